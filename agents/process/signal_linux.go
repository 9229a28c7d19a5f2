package process

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// signal sends sig to pr through a pidfd, after checking that the PID
// still names the process read (same start time): a PID reused since is
// not signalled. Without pidfd (Linux before 5.3) it checks and kills.
func signal(pr Proc, procDir string, sig syscall.Signal) error {
	fd, err := unix.PidfdOpen(pr.PID, 0)
	if errors.Is(err, unix.ENOSYS) {
		if err := same(pr, procDir); err != nil {
			return err
		}
		return syscall.Kill(pr.PID, sig)
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := same(pr, procDir); err != nil {
		return err
	}
	return unix.PidfdSendSignal(fd, sig, nil, 0)
}

func same(pr Proc, procDir string) error {
	now, err := readProc(procDir, pr.PID)
	if err != nil || now.StartTime != pr.StartTime {
		return errors.New("the process ended (its PID names another process now)")
	}
	return nil
}
