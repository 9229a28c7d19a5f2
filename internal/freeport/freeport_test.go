package freeport_test

import (
	"net"
	"strconv"
	"testing"

	"github.com/tuttifleet/tutti/internal/freeport"
)

// The port returned can be listened on, and two calls in a row do not
// return the same port while the first is taken.
func TestPortIsFree(t *testing.T) {
	port := freeport.Must(t)
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("listen on the free port %d: %v", port, err)
	}
	defer l.Close()
	if other := freeport.Must(t); other == port {
		t.Fatalf("port %d returned while it is in use", port)
	}
}
