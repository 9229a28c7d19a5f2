//go:build !unix

package p256

import "time"

// processCPU is not measured on this platform; cpu-ns/op is not reported.
func processCPU() time.Duration { return 0 }
