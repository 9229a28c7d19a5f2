package cli

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// tutti facts, inventory with filters and plugin doc without an agent on
// a real fleet (the 4 nodes of StartFleet, table in e2e_select_test.go).
func TestE2EFactsInventoryPluginDoc(t *testing.T) {
	f := startFleet(t, 4)
	conf := filepath.Join(f.Dir, "demo.conf")

	t.Run("facts counts values, most common first", func(t *testing.T) {
		code, out, stderr := runCLI(t, "facts", "site.country", "--config", conf)
		if code != ExitOK {
			t.Fatalf("exit %d: %s %s", code, out, stderr)
		}
		golden(t, "e2e_facts.txt", elapsedRe.ReplaceAllString(out, "in <elapsed>:"))
	})
	t.Run("facts -n lists the nodes per value, with filters", func(t *testing.T) {
		code, out, stderr := runCLI(t, "facts", "role", "-n", "-F", "site.country=uk", "--config", conf)
		if code != ExitOK {
			t.Fatalf("exit %d: %s %s", code, out, stderr)
		}
		golden(t, "e2e_facts_nodes.txt", elapsedRe.ReplaceAllString(out, "in <elapsed>:"))
	})
	t.Run("a missing fact says it is missing", func(t *testing.T) {
		code, out, _ := runCLI(t, "facts", "no.such.fact", "--config", conf)
		if code != ExitOK || !strings.Contains(out, "(missing)  found 4 times") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		code, out, _ = runCLI(t, "rpc", "rpcutil", "get_fact", "fact=no.such.fact", "--config", conf)
		if code != ExitOK || !strings.Contains(out, "Value: (missing)") || !strings.Contains(out, "(missing) = 4") || strings.Contains(out, " =4") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	t.Run("facts --json", func(t *testing.T) {
		code, out, _ := runCLI(t, "facts", "role", "--json", "--config", conf)
		var doc factsDoc
		if err := json.Unmarshal([]byte(out), &doc); err != nil || code != ExitOK {
			t.Fatalf("exit %d, %v:\n%s", code, err, out)
		}
		if len(doc.Values) != 2 || string(doc.Values[0].Value) != `"web"` || doc.Values[0].Count != 3 ||
			!slices.Equal(doc.Values[1].Nodes, nodeNames(3)) || doc.Stats.OK != 4 || len(doc.RequestIDs) != 1 {
			t.Fatalf("%+v", doc)
		}
	})
	t.Run("facts with no node matching", func(t *testing.T) {
		code, _, stderr := runCLI(t, "facts", "role", "-F", "role=nosuch", "--config", conf, "--discovery-timeout", "500ms")
		if code != ExitNoReplies || !strings.Contains(stderr, "no nodes matched") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
	})
}
