//go:build unix

package procstat

import (
	"syscall"
	"time"
)

// SelfCPU is the CPU time (user + system) this process has used so far,
// all threads included (GC workers too), from getrusage. Benchmarks
// report it as cpu-ns/op: unlike ns/op it does not grow while the
// benchmark waits for a core on a busy machine. It is 0 where the
// platform does not tell.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
