package rpcutil

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/agents"
	"github.com/tuttifleet/tutti/connector/protocol"
)

type fakeNode struct{}

func (fakeNode) Identity() string        { return "web1.example.net" }
func (fakeNode) Fact(string) (any, bool) { return nil, false }
func (fakeNode) Facts() map[string]any   { return map[string]any{} }
func (fakeNode) Classes() []string       { return []string{"role::web"} }
func (fakeNode) Agents() []string        { return []string{"rpcutil", "service"} }
func (fakeNode) Collectives() []string   { return []string{"mcollective"} }
func (fakeNode) MainCollective() string  { return "mcollective" }
func (fakeNode) Version() string         { return "1.2.3" }
func (fakeNode) ConfigFile() string      { return "/etc/tutti/server.conf" }
func (fakeNode) StartTime() time.Time    { return time.Now().Add(-90 * time.Second) }
func (fakeNode) Stats() agents.Stats     { return agents.Stats{Total: 7, Passed: 5, Filtered: 2} }
func (fakeNode) ConfigItem(k string) (string, bool) {
	if k == "loglevel" {
		return "info", true
	}
	return "", false
}

func run(t *testing.T, action, data string) (agents.Reply, map[string]any) {
	t.Helper()
	a, err := New(fakeNode{})
	if err != nil {
		t.Fatal(err)
	}
	rep := a.Run(context.Background(), action, &agents.Request{Agent: "rpcutil", Action: action, Data: json.RawMessage(data)})
	b, err := json.Marshal(rep.Data)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return rep, m
}

func TestGetData(t *testing.T) {
	rep, m := run(t, "get_data", `{"source":"choria"}`)
	if rep.StatusCode != protocol.OK {
		t.Fatalf("choria: %d %s", rep.StatusCode, rep.StatusMsg)
	}
	if m["classes_count"] != float64(1) || m["agents_count"] != float64(2) || m["total"] != float64(7) ||
		m["version"] != "1.2.3" || m["configfile"] != "/etc/tutti/server.conf" || m["uptime"].(float64) < 89 {
		t.Errorf("choria data: %v", m)
	}

	rep, m = run(t, "get_data", `{"source":"config_item","query":"loglevel"}`)
	if rep.StatusCode != protocol.OK || m["present"] != true || m["value"] != "info" {
		t.Errorf("config_item loglevel: %d %v", rep.StatusCode, m)
	}
	rep, m = run(t, "get_data", `{"source":"config_item","query":"nope"}`)
	if rep.StatusCode != protocol.OK || m["present"] != false || m["value"] != nil {
		t.Errorf("config_item nope: %d %v", rep.StatusCode, m)
	}

	for _, c := range []struct {
		data string
		code protocol.StatusCode
	}{
		{`{"source":"scout"}`, protocol.Aborted},
		{`{"source":"config_item"}`, protocol.MissingData},
		{`{}`, protocol.MissingData},
		{`{"source":5}`, protocol.InvalidData},
	} {
		if rep, _ := run(t, "get_data", c.data); rep.StatusCode != c.code {
			t.Errorf("%s: status %d (%s), want %d", c.data, rep.StatusCode, rep.StatusMsg, c.code)
		}
	}
}

// Every action of Choria's rpcutil is here, in the DDL and the agent.
func TestChoriaActions(t *testing.T) {
	want := []string{"agent_inventory", "collective_info", "daemon_stats", "get_config_item", "get_data", "get_fact", "get_facts", "inventory", "ping"}
	a, err := New(fakeNode{})
	if err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(slices.Values(a.Actions()))
	if !slices.Equal(got, want) {
		t.Errorf("actions %v, want %v", got, want)
	}
	for _, name := range want {
		if _, ok := DDL.Action(name); !ok {
			t.Errorf("DDL lacks %s", name)
		}
	}
	_, m := run(t, "inventory", `{}`)
	if dp, _ := m["data_plugins"].([]any); len(dp) != 2 || dp[0] != "choria" || dp[1] != "config_item" {
		t.Errorf("inventory data_plugins = %v", m["data_plugins"])
	}
}
