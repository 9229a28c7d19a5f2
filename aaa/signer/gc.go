package signer

import (
	"os"
	"runtime/debug"
)

// DefaultGCPercent is the garbage collector target tutti-aaa runs with
// when GOGC is not set. The service's live heap is small (a few MB) and a
// sign allocates about 13 KB, most of it in the ECDSA signer and the
// wire codec, so Go's default of 100 collects hundreds of times a second
// under load; 400 cut the service's CPU per sign by about 10 % in
// BenchmarkSignProcess, for a heap a few times larger (tens of MB).
const DefaultGCPercent = 400

// ApplyGCDefault sets DefaultGCPercent unless the GOGC environment
// variable chooses otherwise. For mains only: it is process wide.
func ApplyGCDefault() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(DefaultGCPercent)
	}
}
