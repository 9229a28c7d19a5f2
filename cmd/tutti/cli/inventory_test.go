package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tuttifleet/tutti/connector/protocol"
)

func TestE2EInventory(t *testing.T) {
	f := startFleet(t, 2)
	conf := filepath.Join(f.Dir, "demo.conf")

	code, out, stderr := runCLI(t, "inventory", "node2.demo.example.net", "--config", conf)
	if code != ExitOK {
		t.Fatalf("inventory exit %d: %s %s", code, out, stderr)
	}
	for _, want := range []string{
		"Inventory for node2.demo.example.net:", "role => web", "os.family => linux", "node_number => 2",
		"      role::web\n", "      rpcutil\n", "Replies Sent", "Config File", "node2.demo.example.net.conf",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("inventory output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "node_number => 1") {
		t.Errorf("node1's facts in node2's inventory:\n%s", out)
	}

	code, out, _ = runCLI(t, "inventory", "node1.demo.example.net", "--config", conf, "--json")
	if code != ExitOK {
		t.Fatalf("inventory --json exit %d: %s", code, out)
	}
	var inv nodeInventory
	if err := json.Unmarshal([]byte(out), &inv); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if inv.Identity != "node1.demo.example.net" || inv.Facts["role"] != "web" || len(inv.Classes) != 2 ||
		inv.Stats["replies"] == nil || inv.MainCollective != "mcollective" {
		t.Fatalf("inventory %+v", inv)
	}

	// a caller the policy does not allow gets the node's refusal
	code, _, stderr = runCLI(t, "inventory", "node1.demo.example.net", "--config", filepath.Join(f.Dir, "guest.conf"))
	if code != ExitFailed || !strings.Contains(stderr, protocol.NotAuthorizedMsg) {
		t.Fatalf("guest inventory: exit %d, stderr %q", code, stderr)
	}

	// a node that does not exist does not answer
	code, _, stderr = runCLI(t, "inventory", "nosuch.demo.example.net", "--config", conf, "--timeout", "500ms")
	if code != ExitNoReplies || !strings.Contains(stderr, "did not answer") {
		t.Fatalf("unknown node: exit %d, stderr %q", code, stderr)
	}
}
