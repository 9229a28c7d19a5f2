package procexec

import "syscall"

// sysProcAttr puts the program in its own process group and has the
// kernel SIGKILL it when tuttid dies (even by SIGKILL), so no agent
// outlives its daemon. The signal is tied to the thread that started
// the program; Go keeps its threads, except those of a goroutine that
// exits locked to one, which tuttid does not do. The program's own
// children are not covered: the systemd unit's KillMode=control-group
// ends them.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
