// Package freeport picks a loopback TCP port nobody listens on, for the
// demo fleet, the benchmark and tests that must name a port before the
// server that takes it starts (a config file, a URL to a broker that is
// down). The port is free when returned; another process may take it
// before the caller does, so callers that can listen on port 0 should.
package freeport

import (
	"fmt"
	"net"
)

// Get returns a TCP port on 127.0.0.1 that was free a moment ago.
func Get() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// TB is the part of testing.TB that Must uses (this package does not
// import testing: the product links it).
type TB interface {
	Helper()
	Fatal(args ...any)
}

// Must is Get for tests: it fails t when no port can be found.
func Must(t TB) int {
	t.Helper()
	port, err := Get()
	if err != nil {
		t.Fatal(err)
	}
	return port
}
