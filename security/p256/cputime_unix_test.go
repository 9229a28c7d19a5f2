//go:build unix

package p256

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user + system) the process has used so far,
// all threads included (GC workers too). Unlike ns/op it does not grow
// while the benchmark waits for a core on a busy machine.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
