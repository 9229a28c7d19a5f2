package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/agents"
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

func TestE2EInventoryFiltersAndShortNames(t *testing.T) {
	f := startFleet(t, 4)
	conf := filepath.Join(f.Dir, "demo.conf")

	t.Run("filters choose many nodes", func(t *testing.T) {
		code, out, stderr := runCLI(t, "inventory", "-F", "role=web", "--config", conf, "--json")
		var list []nodeInventory
		if err := json.Unmarshal([]byte(out), &list); err != nil || code != ExitOK {
			t.Fatalf("exit %d, %v: %s %s", code, err, out, stderr)
		}
		var ids []string
		for _, inv := range list {
			ids = append(ids, inv.Identity)
			if inv.Facts["role"] != "web" || inv.Stats["replies"] == nil {
				t.Fatalf("inventory %+v", inv)
			}
		}
		if !slices.Equal(ids, nodeNames(1, 2, 4)) {
			t.Fatalf("identities %v", ids)
		}
		code, out, _ = runCLI(t, "inventory", "-C", "role::db", "--config", conf)
		if code != ExitOK || !strings.Contains(out, "Inventory for node3.demo.example.net:") || strings.Contains(out, "node1.demo") ||
			!strings.Contains(out, "Finished rpcutil#inventory on 1 / 1 nodes") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	t.Run("a short name says so at once", func(t *testing.T) {
		start := time.Now()
		code, _, stderr := runCLI(t, "inventory", "node2", "--config", conf)
		if code != ExitUsage || !strings.Contains(stderr, "no node is named node2; did you mean node2.demo.example.net?") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if d := time.Since(start); d > 1900*time.Millisecond {
			t.Fatalf("took %s: it waited for the discovery timeout", d)
		}
	})
	t.Run("NODE and filters do not mix", func(t *testing.T) {
		code, _, stderr := runCLI(t, "inventory", "node2.demo.example.net", "-F", "role=web", "--config", conf)
		if code != ExitUsage || !strings.Contains(stderr, "give NODE or filters") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
	})
}

func TestPluginDocListsAgents(t *testing.T) {
	dir := t.TempDir()
	disk := `{"metadata": {"name": "disk", "description": "Disk usage", "author": "a", "license": "MIT", "version": "1.2.0", "url": "https://example.net", "timeout": 10},
  "actions": [{"action": "usage", "description": "How full", "output": {}}]}`
	for name, body := range map[string]string{"disk.json": disk, "broken.json": "{"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(dir, "client.conf")
	if err := os.WriteFile(conf, []byte("plugin.tutti.agents_dir = "+dir+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI(t, "plugin", "doc", "--config", conf)
	if code != ExitOK || !strings.Contains(out, "rpcutil") || !strings.Contains(out, "service") ||
		!strings.Contains(out, "disk       Disk usage (1.2.0, "+filepath.Join(dir, "disk.json")+")") ||
		!strings.Contains(stderr, "skipped "+filepath.Join(dir, "broken.json")) {
		t.Fatalf("exit %d:\n%s\n%s", code, out, stderr)
	}
	code, out, _ = runCLI(t, "plugin", "doc", "--json", "--config", conf)
	var list []knownAgent
	if err := json.Unmarshal([]byte(out), &list); err != nil || code != ExitOK || len(list) != len(agents.BuiltinDDLs())+1 || list[0].Name != "discovery" || list[1].Name != "disk" {
		t.Fatalf("exit %d, %v: %s", code, err, out)
	}
}
