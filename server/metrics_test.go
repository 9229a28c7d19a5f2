package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tuttifleet/tutti/aaa/actionpolicy"
	"github.com/tuttifleet/tutti/aaa/audit"
	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server"
)

// denyStatus denies rpcutil#inventory and allows everything else.
type denyStatus struct{}

func (denyStatus) Authorize(r actionpolicy.Request) actionpolicy.Decision {
	if r.Action == "inventory" {
		return actionpolicy.Decision{Reason: "test policy denies inventory"}
	}
	return actionpolicy.Decision{Allowed: true, Reason: "test policy allows"}
}

// failingAuditor cannot write; rejects is the action it fails for.
type failingAuditor struct{ action string }

func (a failingAuditor) Audit(_ context.Context, e audit.Entry) error {
	if e.(*audit.Record).Action == a.action {
		return errors.New("disk full")
	}
	return nil
}
func (failingAuditor) Reopen() error { return nil }
func (failingAuditor) Close() error  { return nil }

// TestAgentRefusalMetrics sends one request per way of being refused
// before an agent's action runs and checks each is counted once, per
// agent and reason, and that a request that ran is not.
func TestAgentRefusalMetrics(t *testing.T) {
	r := newRig(t, x509.KeyEd25519, denyStatus{}, failingAuditor{action: "agent_inventory"})
	r.node.UpdateSettings(server.Settings{Identity: "node1.example.net", Collectives: []string{"mcollective"},
		MaxTTL: time.Hour, AuditRequired: true})
	reg := prometheus.NewRegistry()
	r.node.SetMetrics(server.NewMetrics(reg))

	send := func(agent, payload string) {
		t.Helper()
		out := r.node.Process(context.Background(), agentSubject(agent), r.rawRequest(t, agent, payload))
		if out.Reply == nil && out.Dropped == nil {
			t.Fatalf("%s %s: neither replied nor dropped", agent, payload)
		}
	}
	rpc := func(agent, action, data string) string {
		s, err := protocol.EncodeRPCRequest(agent, action, json.RawMessage(data))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	send("rpcutil", rpc("rpcutil", "ping", ""))                        // runs
	send("rpcutil", `{"agent":"rpcutil","action":`)                    // payload
	send("rpcutil", rpc("service", "ping", ""))                        // agent_mismatch
	send("rpcutil", rpc("rpcutil", "reboot", ""))                      // unknown_action
	send("rpcutil", rpc("rpcutil", "get_fact", `{}`))                  // invalid_input
	send("rpcutil", rpc("rpcutil", "get_fact", `{"fact":"bad fact"}`)) // invalid_input
	send("rpcutil", rpc("rpcutil", "inventory", ""))                   // denied
	send("rpcutil", rpc("rpcutil", "agent_inventory", ""))             // audit
	send("discovery", "not a discovery message")                       // payload
	send("nosuch", rpc("nosuch", "ping", ""))                          // unknown agent: no agent label

	want := map[string]float64{
		"rpcutil/payload": 1, "rpcutil/agent_mismatch": 1, "rpcutil/unknown_action": 1,
		"rpcutil/invalid_input": 2, "rpcutil/denied": 1, "rpcutil/audit": 1, "discovery/payload": 1,
	}
	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "tutti_node_agent_refused_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			got[labels["agent"]+"/"+labels["reason"]] = m.GetCounter().GetValue()
		}
	}
	if len(got) != len(want) {
		t.Errorf("counted %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("tutti_node_agent_refused_total{%s} = %v, want %v", strings.Replace(k, "/", ", ", 1), got[k], v)
		}
	}
}

// rawRequest is a signed request for agent with payload as its message.
func (r *rig) rawRequest(tb testing.TB, agent, payload string) []byte {
	tb.Helper()
	req := &protocol.Request{ID: protocol.NewRequestID(), SenderID: "rip", CallerID: "choria=rip.mcollective",
		Collective: "mcollective", Agent: agent, TTL: 60, Time: time.Now().Unix(), Filter: protocol.NewFilter(agent), Message: payload}
	raw, err := protocol.EncodeRequest(req)
	if err != nil {
		tb.Fatal(err)
	}
	sig, err := r.client.Sign(raw)
	if err != nil {
		tb.Fatal(err)
	}
	sec, _ := protocol.EncodeSecureRequest(&protocol.SecureRequest{Message: raw, Signature: sig, PubCert: r.client.CertificatePEM()})
	tr, _ := protocol.EncodeTransport(&protocol.Transport{Data: sec, ReplyTo: connector.ReplyTo("mcollective", req.CallerID, req.ID), Sender: "rip"})
	return tr
}
