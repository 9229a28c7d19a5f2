//go:build !linux

package process

import (
	"errors"
	"syscall"
)

func signal(Proc, string, syscall.Signal) error {
	return errors.New("the process agent reads /proc and runs on Linux only")
}
