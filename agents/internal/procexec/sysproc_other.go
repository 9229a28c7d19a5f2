//go:build !linux

package procexec

import "syscall"

// sysProcAttr puts the program in its own process group; a parent-death
// signal exists on Linux only.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
