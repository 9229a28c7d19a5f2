// Package version holds the tutti version of all three binaries (tutti,
// tuttid, tutti-aaa): the Makefile sets it at link time with
// -ldflags "-X github.com/tuttifleet/tutti/server/version.Version=…".
//
// It is a leaf that imports nothing, under server/ beside the other
// helpers every service may import (sdnotify, supervise) without linking
// the node; the node reports it in inventory, registration and metrics.
package version

// Version is the tutti version, set at build time. It is the one
// variable the linker writes; nothing else assigns it.
var Version = "0.1.0-dev"
