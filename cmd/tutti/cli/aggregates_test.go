package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tuttifleet/tutti/agents/ddl"
	"github.com/tuttifleet/tutti/connector/protocol"
)

// Aggregates come from the DDL the client found, built in or from its
// agents directories (an external agent's).
func TestAggregatesOfAClientDDL(t *testing.T) {
	dir := t.TempDir()
	diskDDL := `{"metadata": {"name": "disk", "description": "Disk usage", "author": "a", "license": "MIT", "version": "1.0.0", "url": "https://example.net", "timeout": 10},
  "actions": [{"action": "usage", "description": "How full", "display": "always",
     "output": {"used_percent": {"description": "Used space", "display_as": "Used %", "type": "integer"}},
     "aggregate": [{"function": "average", "args": ["used_percent"]}]}]}`
	if err := os.WriteFile(filepath.Join(dir, "disk.json"), []byte(diskDDL), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "client.conf")
	if err := os.WriteFile(conf, []byte("plugin.tutti.agents_dir = "+dir+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, _, err := findDDL(&globals{config: conf}, "disk")
	if err != nil {
		t.Fatal(err)
	}
	replies := []rpcResult{
		{Sender: "a", StatusCode: protocol.OK, Data: json.RawMessage(`{"used_percent":40}`)},
		{Sender: "b", StatusCode: protocol.OK, Data: json.RawMessage(`{"used_percent":60}`)},
		{Sender: "c", StatusCode: protocol.Aborted, Data: json.RawMessage(`{"used_percent":99}`)},
	}
	got := ddlAggregates(d, "disk", "usage", replies)
	if !slices.Equal(got, []string{"Summary of Used %:", "", "   average: 50 (2 replies)"}) {
		t.Fatalf("aggregates %q", got)
	}
	if got := ddlAggregates((*ddl.DDL)(nil), "disk", "usage", replies); got != nil {
		t.Fatalf("no DDL, no aggregates: %q", got)
	}
}
