//go:build !unix

package procstat

import "time"

// SelfCPU is not measured on this platform: it is always 0, and
// benchmarks then do not report cpu-ns/op.
func SelfCPU() time.Duration { return 0 }
