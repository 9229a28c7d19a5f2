package cli

import (
	"strings"
	"testing"
)

// TestDemo runs README command 1 (`tutti demo`) and checks that every step
// behaved: it exits 0 only when each step did what it shows.
func TestDemo(t *testing.T) {
	code, out, stderr := runCLI(t, "demo", "--nodes", "2")
	if code != ExitOK {
		t.Fatalf("demo exit %d:\n%s\n%s", code, out, stderr)
	}
	for _, want := range []string{
		"2 replies",                             // ping
		"Finished rpcutil#ping on 2 / 2 nodes",  // rpc
		"not authorized",                        // ActionPolicy denial
		"replies received: 0",                   // forged request refused
		`"caller":"up=alice"`,                   // central AAA
		`"signer":"aaa.privileged.mcollective"`, // privileged signer in the audit
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}
