package main

import (
	"os/exec"
	"strings"
	"testing"
)

// tutti-aaa is the login and signing service: it must not link the node
// (server/daemon drags in the embedded broker, facts and action policy).
func TestDoesNotLinkTheNode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list unavailable: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "github.com/tuttifleet/tutti/server/daemon" || strings.HasPrefix(dep, "github.com/tuttifleet/tutti/server/daemon/") ||
			strings.HasPrefix(dep, "github.com/nats-io/nats-server/") {
			t.Errorf("tutti-aaa links %s", dep)
		}
	}
}
