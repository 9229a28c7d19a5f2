package cli

import (
	"testing"
	"time"

	"github.com/tuttifleet/tutti/agents/packages"
	"github.com/tuttifleet/tutti/agents/rpcutil"
)

// Without --timeout, tutti rpc waits as long as the agent's DDL says its
// actions may run, plus the way there and back: a package install
// (DDL timeout 180 s) is waited for, not reported as not responding
// after the default 10 s; an agent with a short or no DDL timeout keeps
// the default.
func TestDDLTimeout(t *testing.T) {
	def := 10 * time.Second
	if got, want := ddlTimeout(def, packages.DDL), 185*time.Second; got != want {
		t.Errorf("package agent: %v, want %v", got, want)
	}
	if got := ddlTimeout(def, rpcutil.DDL); got != max(def, rpcutil.DDL.Timeout()+ddlTimeoutMargin) {
		t.Errorf("rpcutil: %v", got)
	}
	if got := ddlTimeout(def, nil); got != def {
		t.Errorf("no DDL: %v, want %v", got, def)
	}
}
