// Package procexec runs a program for an agent: no shell, a fixed
// environment, its own process group (killed as a whole when the context
// ends, and after the program exits so no stray child survives), a
// parent-death signal so it dies with the daemon (Linux), and bounded
// capture of its output.
package procexec

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"syscall"
	"time"
)

// Cmd is a program to run.
type Cmd struct {
	Path  string
	Args  []string
	Stdin []byte
	// Env is the complete environment (nothing is inherited).
	Env []string
	// Dir is the working directory ("/" when empty).
	Dir string
	// MaxStdout and MaxStderr bound what is kept of each stream; the rest
	// is discarded and the result marked truncated.
	MaxStdout, MaxStderr int
}

// Result is what happened.
type Result struct {
	Stdout, Stderr                   []byte
	StdoutTruncated, StderrTruncated bool
	// ExitCode is the exit status (-1 when killed by a signal or not
	// started).
	ExitCode int
	// Signal names the signal that ended the program, if any.
	Signal string
	// TimedOut is true when ctx ended first and the group was killed.
	TimedOut bool
	// Err is set when the program could not be started or waited for.
	Err error
}

// waitDelay bounds how long Wait waits for pipes held open by children
// that escaped the process group.
const waitDelay = 500 * time.Millisecond

// Run runs c until it exits or ctx ends.
func Run(ctx context.Context, c Cmd) Result {
	cmd := exec.CommandContext(ctx, c.Path, c.Args...)
	cmd.Env = c.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Dir = c.Dir
	if cmd.Dir == "" {
		cmd.Dir = "/"
	}
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error { return killGroup(cmd) }
	cmd.WaitDelay = waitDelay
	cmd.Stdin = bytes.NewReader(c.Stdin)
	stdout, stderr := &capped{max: c.MaxStdout}, &capped{max: c.MaxStderr}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	res := Result{ExitCode: -1}
	if err := cmd.Start(); err != nil {
		res.Err = err
		return res
	}
	err := cmd.Wait()
	_ = killGroup(cmd) // children left running in the background
	res.Stdout, res.StdoutTruncated = stdout.buf.Bytes(), stdout.truncated
	res.Stderr, res.StderrTruncated = stderr.buf.Bytes(), stderr.truncated
	res.TimedOut = ctx.Err() != nil
	if ps := cmd.ProcessState; ps != nil {
		res.ExitCode = ps.ExitCode()
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Signal = ws.Signal().String()
		}
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) && !res.TimedOut && !errors.Is(err, exec.ErrWaitDelay) {
		res.Err = err
	}
	return res
}

func killGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil || cmd.Process.Pid <= 0 {
		return nil
	}
	err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// capped keeps the first max bytes written to it.
type capped struct {
	buf       bytes.Buffer
	max       int
	truncated bool
}

func (c *capped) Write(p []byte) (int, error) {
	room := c.max - c.buf.Len()
	if room < len(p) {
		c.truncated = true
		if room > 0 {
			c.buf.Write(p[:room])
		}
		return len(p), nil
	}
	c.buf.Write(p)
	return len(p), nil
}
