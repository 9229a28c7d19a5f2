package demo_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tuttifleet/tutti/cmd/tutti/cli"
)

// TestDemo runs README command 1 (`tutti demo`) and checks that every step
// behaved: it exits 0 only when each step did what it shows.
func TestDemo(t *testing.T) {
	var outb, stderr bytes.Buffer
	code := cli.Main([]string{"demo", "--nodes", "2"}, strings.NewReader(""), &outb, &stderr)
	out := outb.String()
	if code != cli.ExitOK {
		t.Fatalf("demo exit %d:\n%s\n%s", code, out, stderr.String())
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
