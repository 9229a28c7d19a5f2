package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/tuttifleet/tutti/aaa/audit"
	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security/replay"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server"
	"github.com/tuttifleet/tutti/server/facts"
	"github.com/tuttifleet/tutti/server/guard"
)

// recAuditor keeps the records written.
type recAuditor struct {
	mu   sync.Mutex
	recs []*audit.Record
}

func (a *recAuditor) Audit(_ context.Context, e audit.Entry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.recs = append(a.recs, e.(*audit.Record))
	return nil
}
func (*recAuditor) Reopen() error { return nil }
func (*recAuditor) Close() error  { return nil }

// guardedNode is a node of r's certificates with policy p.
func guardedNode(t *testing.T, r *rig, p guard.Policy, aud audit.Auditor) (*server.Node, *logtest.Hook) {
	t.Helper()
	l, hook := logtest.NewNullLogger()
	n, err := server.New(server.Options{
		Settings:  server.Settings{Identity: "node1.example.net", Collectives: []string{"mcollective"}, MaxTTL: time.Hour, Guard: p},
		Connector: nopConn{}, Signer: r.nodeP, Verifier: r.nodeP, Replay: replay.New(0), Auditor: aud,
		Facts: facts.Static(map[string]any{"role": "web"}, []string{"base"}), Log: logrus.NewEntry(l),
	})
	if err != nil {
		t.Fatal(err)
	}
	return n, hook
}

// rpcBody decodes the RPC reply of an outcome.
func rpcBody(t *testing.T, out server.Outcome) *protocol.RPCReply {
	t.Helper()
	if out.Reply == nil {
		t.Fatalf("no reply: %+v", out)
	}
	tr, _ := protocol.DecodeTransport(out.Reply, 0)
	sr, err := protocol.DecodeSecureReply(tr.Data)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := protocol.DecodeReply(sr.Message)
	if err != nil {
		t.Fatal(err)
	}
	body, err := protocol.DecodeRPCReply([]byte(rep.Message))
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// A guarded action refuses a wide request with status Aborted, the
// guard's message and data, a warning naming the caller and an audit
// denial; a narrow one runs.
func TestGuardRefusesWideAllowsNarrow(t *testing.T) {
	r := newRig(t, x509.KeyEd25519, nil, nil)
	aud := &recAuditor{}
	n, hook := guardedNode(t, r, guard.Policy{Rules: []guard.Rule{{Agent: "rpcutil", Action: "ping", MaxTargets: 2}}, Selectors: true}, aud)
	wide := protocol.Filter{Agent: []string{"rpcutil"}, Identity: []string{"node1.example.net", "node2", "node3"}}
	body := rpcBody(t, n.Process(context.Background(), rpcutilSubject, r.filteredRequest(t, wide)))
	if body.StatusCode != protocol.Aborted || !protocol.IsGuardRefusal(body.StatusCode, body.StatusMsg) ||
		!strings.Contains(body.StatusMsg, "--batch 2") || !strings.Contains(body.StatusMsg, "names 3") {
		t.Fatalf("reply %d %q", body.StatusCode, body.StatusMsg)
	}
	var data protocol.GuardRefusal
	if err := json.Unmarshal(body.Data, &data); err != nil || data != (protocol.GuardRefusal{Guard: "rpcutil#ping", MaxTargets: 2, Targets: 3, Selectors: true}) {
		t.Fatalf("data %s (%v)", body.Data, err)
	}
	e := hook.LastEntry()
	if e == nil || e.Level != logrus.WarnLevel || e.Data["reason"] != "guard" || e.Data["caller"] != "choria=rip.mcollective" || e.Data["guard"] != "rpcutil#ping" {
		t.Fatalf("log entry %+v", e)
	}
	if len(aud.recs) != 1 || aud.recs[0].Decision != "deny" || aud.recs[0].Policy != "guard" || !strings.Contains(aud.recs[0].Reason, "blast-radius") {
		t.Fatalf("audit %+v", aud.recs)
	}
	for name, f := range map[string]protocol.Filter{
		"named":    {Agent: []string{"rpcutil"}, Identity: []string{"node1.example.net", "node2"}},
		"selected": {Agent: []string{"rpcutil"}, Fact: []protocol.FactFilter{{Fact: "role", Operator: "==", Value: "web"}}},
	} {
		if body := rpcBody(t, n.Process(context.Background(), rpcutilSubject, r.filteredRequest(t, f))); body.StatusCode != protocol.OK {
			t.Fatalf("%s: reply %d %q", name, body.StatusCode, body.StatusMsg)
		}
	}
}

// require_client_filter refuses an RPC request that selects by nothing
// but its agent with a reply, and drops such a discovery (which has no
// status to carry a refusal), logged with the caller; a filtered one
// runs.
func TestRequireClientFilter(t *testing.T) {
	r := newRig(t, x509.KeyEd25519, nil, nil)
	n, hook := guardedNode(t, r, guard.Policy{RequireFilter: true}, nil)
	body := rpcBody(t, n.Process(context.Background(), rpcutilSubject, r.filteredRequest(t, protocol.NewFilter("rpcutil"))))
	if !strings.HasPrefix(body.StatusMsg, protocol.FilterRequiredMsg) || body.StatusCode != protocol.Aborted {
		t.Fatalf("reply %d %q", body.StatusCode, body.StatusMsg)
	}
	if e := hook.LastEntry(); e == nil || e.Data["caller"] != "choria=rip.mcollective" || e.Data["reason"] != "guard" {
		t.Fatalf("log entry %+v", e)
	}
	if body := rpcBody(t, n.Process(context.Background(), rpcutilSubject, r.filteredRequest(t, protocol.Filter{Identity: []string{"node1.example.net"}}))); body.StatusCode != protocol.OK {
		t.Fatalf("filtered: %d %q", body.StatusCode, body.StatusMsg)
	}
	disco := func(f protocol.Filter) server.Outcome {
		return n.Process(context.Background(), agentSubject(protocol.DiscoveryAgent), r.discoveryRequest(t, f))
	}
	hook.Reset()
	if out := disco(protocol.NewFilter("rpcutil")); out.Reply != nil || protocol.KindOf(out.Dropped) != protocol.KindGuard {
		t.Fatalf("unfiltered discovery: %+v", out)
	}
	if e := hook.LastEntry(); e == nil || e.Data["caller"] != "choria=rip.mcollective" || e.Data["reason"] != "guard" {
		t.Fatalf("log entry %+v", e)
	}
	if out := disco(protocol.Filter{CFClass: []string{"base"}}); out.Reply == nil {
		t.Fatalf("filtered discovery: %+v", out)
	}
}

// discoveryRequest is a signed discovery ping with filter f.
func (r *rig) discoveryRequest(tb testing.TB, f protocol.Filter) []byte {
	tb.Helper()
	req := &protocol.Request{ID: protocol.NewRequestID(), SenderID: "rip", CallerID: "choria=rip.mcollective",
		Collective: "mcollective", Agent: protocol.DiscoveryAgent, TTL: 60, Time: time.Now().Unix(), Filter: f, Message: protocol.DiscoveryPayload}
	raw, err := protocol.EncodeRequest(req)
	if err != nil {
		tb.Fatal(err)
	}
	sig, err := r.client.Sign(raw)
	if err != nil {
		tb.Fatal(err)
	}
	sec, _ := protocol.EncodeSecureRequest(&protocol.SecureRequest{Message: raw, Signature: sig, PubCert: r.client.CertificatePEM()})
	tr, err := protocol.EncodeTransport(&protocol.Transport{Data: sec, ReplyTo: connector.ReplyTo("mcollective", req.CallerID, req.ID), Sender: "rip"})
	if err != nil {
		tb.Fatal(err)
	}
	return tr
}

// The guard is part of the settings a reload swaps.
func TestGuardReload(t *testing.T) {
	r := newRig(t, x509.KeyEd25519, nil, nil)
	n, _ := guardedNode(t, r, guard.Policy{}, nil)
	f := protocol.NewFilter("rpcutil")
	if body := rpcBody(t, n.Process(context.Background(), rpcutilSubject, r.filteredRequest(t, f))); body.StatusCode != protocol.OK {
		t.Fatalf("before: %d %q", body.StatusCode, body.StatusMsg)
	}
	n.UpdateSettings(server.Settings{Identity: "node1.example.net", Collectives: []string{"mcollective"}, MaxTTL: time.Hour,
		Guard: guard.Policy{Rules: []guard.Rule{{Agent: "rpcutil", Action: "*"}}}})
	if body := rpcBody(t, n.Process(context.Background(), rpcutilSubject, r.filteredRequest(t, f))); !protocol.IsGuardRefusal(body.StatusCode, body.StatusMsg) {
		t.Fatalf("after: %d %q", body.StatusCode, body.StatusMsg)
	}
}
