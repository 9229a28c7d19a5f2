//go:build unix

package puppet

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// spawn starts path in the background in a session of its own, output
// discarded, and reaps it when it exits. It outlives the request, and the
// daemon too (a Puppet run is not cut short by a restart of tuttid).
func spawn(path string, args, env []string) error {
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return fmt.Errorf("open %s: %w", os.DevNull, err)
	}
	defer devnull.Close()
	cmd := exec.Command(path, args...)
	cmd.Env, cmd.Dir = env, "/"
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, devnull
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", path, err)
	}
	go func() { _ = cmd.Wait() }()
	return nil
}
