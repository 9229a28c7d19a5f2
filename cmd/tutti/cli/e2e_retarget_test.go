package cli

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/agents"
	"github.com/tuttifleet/tutti/client"
	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/dial"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server/daemon"
)

// connectWith opens a broker connection with the certificate of a node
// (server config) or a user (client config) of the fleet, as an attacker
// holding that certificate would.
func connectWith(t *testing.T, conf string, server bool) connector.Connector {
	t.Helper()
	var common *config.Common
	if server {
		cfg, _, err := config.LoadServer(conf)
		if err != nil {
			t.Fatal(err)
		}
		common = &cfg.Common
	} else {
		cfg, _, err := config.LoadClient(conf)
		if err != nil {
			t.Fatal(err)
		}
		common = &cfg.Common
	}
	p, err := x509.New(x509.ConfigFrom(common.Security))
	if err != nil {
		t.Fatal(err)
	}
	l := logrus.New()
	l.SetOutput(io.Discard)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := dial.Open(ctx, dial.ConfigFrom(common), p, logrus.NewEntry(l))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// captureDirected subscribes with node's own certificate to node's own
// directed subject (what a compromised node sees, and all that broker
// permissions leave it) and returns the messages it receives.
func captureDirected(t *testing.T, f *Fleet, node string) <-chan []byte {
	t.Helper()
	spy := connectWith(t, filepath.Join(f.Dir, node+".conf"), true)
	got := make(chan []byte, 16)
	if _, err := spy.Subscribe(connector.Destination{Kind: connector.Directed, Collective: "mcollective", Identity: node},
		func(m connector.Message) { got <- slices.Clone(m.Data) }); err != nil {
		t.Fatal(err)
	}
	if err := spy.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	return got
}

// signedRequest decodes the signed request inside a transport message.
func signedRequest(t *testing.T, msg []byte) *protocol.Request {
	t.Helper()
	tr, err := protocol.DecodeTransport(msg, 0)
	if err != nil {
		t.Fatal(err)
	}
	sr, err := protocol.DecodeSecureRequest(tr.Data)
	if err != nil {
		t.Fatal(err)
	}
	req, err := protocol.DecodeRequest(sr.Message)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func nodeStats(nodes []*daemon.Node) []agents.Stats {
	var out []agents.Stats
	for _, n := range nodes {
		out = append(out, n.Stats())
	}
	return out
}

// waitReceived polls until node i has received and dealt with more[i]
// more messages than in before.
func waitReceived(t *testing.T, nodes []*daemon.Node, before []agents.Stats, more []uint64) []agents.Stats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		now := nodeStats(nodes)
		done := true
		for i := range more {
			// settled: every message received has had its outcome counted
			settled := now[i].Total == now[i].Passed+now[i].Filtered+now[i].Unvalidated
			done = done && settled && now[i].Total-before[i].Total >= more[i]
		}
		if done {
			return now
		}
		if time.Now().After(deadline) {
			t.Fatalf("nodes did not receive the re-published copies: before %+v, now %+v, want %v more", before, now, more)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// auditedRequests counts the decision records of node for request id
// (one per request the node decided; the outcome record written after
// an action that ran has a "type" and is not counted).
func auditedRequests(t *testing.T, dir, node, id string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "audit-"+node+".log"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var rec map[string]any
		if line != "" && json.Unmarshal([]byte(line), &rec) == nil && rec["request_id"] == id && rec["type"] == nil {
			n++
		}
	}
	return n
}

func firstCapture(t *testing.T, got <-chan []byte) []byte {
	t.Helper()
	select {
	case m := <-got:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("nothing captured on the directed subject")
		return nil
	}
}

// The capture-and-retarget attack over a real broker with real
// certificates: a request `tutti rpc -I node1` sent to node1 is captured
// on node1's directed subject and published again, verbatim and with
// another valid certificate, on the broadcast subject and on the other
// nodes' directed subjects. No other node runs it (its signed identity
// filter names node1 only), and node1 refuses the copy as a replay.
func TestE2EDirectedRequestCannotBeRetargeted(t *testing.T) {
	f := startFleet(t, 4)
	conf := filepath.Join(f.Dir, "demo.conf")
	nodes := nodeNames(1, 2, 3, 4)
	captured := captureDirected(t, f, nodes[0])

	code, out, stderr := runCLI(t, "rpc", "rpcutil", "ping", "-I", nodes[0], "--config", conf, "--json")
	if code != ExitOK {
		t.Fatalf("rpc -I %s: exit %d: %s %s", nodes[0], code, out, stderr)
	}
	doc := decodeRPCDoc(t, out)
	if !slices.Equal(doc.senders(), nodes[:1]) {
		t.Fatalf("replies from %v", doc.senders())
	}
	msg := firstCapture(t, captured)
	req := signedRequest(t, msg)
	if req.ID != doc.RequestID || !slices.Equal(req.Filter.Identity, nodes[:1]) || !slices.Equal(req.Filter.Agent, []string{"rpcutil"}) {
		t.Fatalf("captured request %s with filter %+v: want %s naming %s", req.ID, req.Filter, doc.RequestID, nodes[0])
	}

	attacker := connectWith(t, filepath.Join(f.Dir, "guest.conf"), false)
	before := nodeStats(f.Nodes)
	ctx := context.Background()
	for _, d := range []connector.Destination{
		{Kind: connector.Broadcast, Collective: "mcollective", Agent: "rpcutil"},
		{Kind: connector.Directed, Collective: "mcollective", Identity: nodes[0]},
		{Kind: connector.Directed, Collective: "mcollective", Identity: nodes[1]},
		{Kind: connector.Directed, Collective: "mcollective", Identity: nodes[2]},
	} {
		if err := attacker.Publish(ctx, d, msg); err != nil {
			t.Fatalf("re-publish to %+v: %v", d, err)
		}
	}
	if err := attacker.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	after := waitReceived(t, f.Nodes, before, []uint64{2, 2, 2, 1})
	for i, n := range nodes {
		if after[i].Passed != before[i].Passed {
			t.Errorf("%s accepted a re-published copy (passed %d → %d)", n, before[i].Passed, after[i].Passed)
		}
		// The first copy a node that is not named receives is filtered
		// out; a second identical one meets its replay cache first.
		filtered, replayed := after[i].Filtered-before[i].Filtered, after[i].Replayed-before[i].Replayed
		if i > 0 && (filtered != 1 || filtered+replayed != after[i].Total-before[i].Total) {
			t.Errorf("%s: %d copies received, %d filtered out, %d refused as replays", n, after[i].Total-before[i].Total, filtered, replayed)
		}
		want := 0
		if i == 0 {
			want = 1
		}
		if got := auditedRequests(t, f.Dir, n, req.ID); got != want {
			t.Errorf("%s has %d audit records of request %s, want %d", n, got, req.ID, want)
		}
	}
	if got := after[0].Replayed - before[0].Replayed; got != 2 {
		t.Errorf("node1 refused %d copies as replays, want 2 (broadcast and directed)", got)
	}
	if lines := f.NodeLog.Lines("replay"); len(lines) == 0 {
		t.Error("node1 logged no replay refusal")
	}
}

// Each batch signs its own batch's nodes: batch 1's request, captured on
// node1 and published to batch 2's nodes, is filtered out there.
func TestE2EBatchRequestCannotBeRetargeted(t *testing.T) {
	f := startFleet(t, 4)
	conf := filepath.Join(f.Dir, "demo.conf")
	nodes := nodeNames(1, 2, 3, 4)
	captured := captureDirected(t, f, nodes[0])

	args := []string{"rpc", "rpcutil", "ping", "--batch", "2", "--config", conf, "--json"}
	for _, n := range nodes {
		args = append(args, "-I", n)
	}
	code, out, stderr := runCLI(t, args...)
	if code != ExitOK {
		t.Fatalf("rpc --batch 2: exit %d: %s %s", code, out, stderr)
	}
	doc := decodeRPCDoc(t, out)
	if !slices.Equal(doc.senders(), nodes) || len(doc.RequestIDs) != 2 {
		t.Fatalf("replies from %v, request ids %v", doc.senders(), doc.RequestIDs)
	}
	msg := firstCapture(t, captured)
	req := signedRequest(t, msg)
	if req.ID != doc.RequestIDs[0] || !slices.Equal(req.Filter.Identity, nodes[:2]) {
		t.Fatalf("batch 1 request %s names %v, want %s naming %v", req.ID, req.Filter.Identity, doc.RequestIDs[0], nodes[:2])
	}

	attacker := connectWith(t, filepath.Join(f.Dir, "guest.conf"), false)
	before := nodeStats(f.Nodes)
	ctx := context.Background()
	for _, n := range nodes[2:] {
		if err := attacker.Publish(ctx, connector.Destination{Kind: connector.Directed, Collective: "mcollective", Identity: n}, msg); err != nil {
			t.Fatal(err)
		}
	}
	if err := attacker.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	after := waitReceived(t, f.Nodes, before, []uint64{0, 0, 1, 1})
	for i, n := range nodes[2:] {
		i += 2
		if after[i].Passed != before[i].Passed || after[i].Filtered != before[i].Filtered+1 {
			t.Errorf("%s: passed %d → %d, filtered %d → %d: batch 1's request must be filtered out", n,
				before[i].Passed, after[i].Passed, before[i].Filtered, after[i].Filtered)
		}
		if got := auditedRequests(t, f.Dir, n, req.ID); got != 0 {
			t.Errorf("%s has %d audit records of batch 1's request", n, got)
		}
	}
}

// With central signing every chunk is one call to tutti-aaa, each signed
// request naming its own nodes, and the nodes run it as the token's
// caller.
func TestE2ECentralAAASignsEachChunk(t *testing.T) {
	a := startAAAFleet(t)
	a.login(t, "bob")
	ctx := context.Background()
	cfg, _, err := config.LoadClient(a.conf)
	if err != nil {
		t.Fatal(err)
	}
	p, err := x509.New(x509.ConfigFrom(cfg.Security))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := newSigner(cfg, p)
	if err != nil {
		t.Fatal(err)
	}
	l := logrus.New()
	l.SetOutput(io.Discard)
	// The broker grants bob's reply subject (up=bob) for the login token
	// the CLI presents, as `tutti rpc` does.
	conn, err := dial.Open(ctx, dial.ConfigFrom(&cfg.Common).WithToken(brokerToken(signer)), p, logrus.NewEntry(l))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	cl, err := client.New(client.Options{Connector: conn, Signer: signer, Verifier: p,
		Identity: cfg.Identity, DirectedChunk: 1, Log: logrus.NewEntry(l)})
	if err != nil {
		t.Fatal(err)
	}
	nodes := nodeNames(1, 2)
	sum, err := cl.Do(ctx, client.Request{Agent: "rpcutil", Action: "ping", Filter: protocol.NewFilter("rpcutil"),
		Targets: nodes, Expect: 2, Timeout: 10 * time.Second}, func(r client.Result) {
		if r.State != client.Verified || r.RPC == nil || r.RPC.StatusCode != protocol.OK {
			t.Errorf("reply from %s: %s %v %+v", r.Sender, r.State, r.Err, r.RPC)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Replies != 2 || len(sum.RequestIDs) != 2 || len(sum.Missing) != 0 {
		t.Fatalf("summary %+v: want 2 replies to 2 signed chunks", sum)
	}
	named := map[string][]string{}
	for _, r := range a.env.AuditRecords(t) {
		if r.CallerID != "up=bob" || r.Action != "allow" || !slices.Contains(sum.RequestIDs, r.RequestID) {
			continue
		}
		req, err := protocol.DecodeRequest(r.Request)
		if err != nil {
			t.Fatal(err)
		}
		named[r.RequestID] = req.Filter.Identity
	}
	if len(named) != 2 || !slices.Equal(named[sum.RequestIDs[0]], nodes[:1]) || !slices.Equal(named[sum.RequestIDs[1]], nodes[1:]) {
		t.Fatalf("tutti-aaa signed %v for request ids %v: want one call per chunk, each naming its node", named, sum.RequestIDs)
	}
	for i, n := range nodes {
		if got := auditedRequests(t, a.Dir, n, sum.RequestIDs[i]); got != 1 {
			t.Errorf("%s: %d audit records of its chunk's request", n, got)
		}
	}
}

// recordingConn passes everything to the real connector and keeps the
// directed messages published through it: the bytes on the wire, as a
// node or the broker sees them.
type recordingConn struct {
	connector.Connector
	mu       sync.Mutex
	directed map[string][]byte
}

func (r *recordingConn) Publish(ctx context.Context, d connector.Destination, data []byte) error {
	if d.Kind == connector.Directed {
		r.mu.Lock()
		r.directed[d.Identity] = slices.Clone(data)
		r.mu.Unlock()
	}
	return r.Connector.Publish(ctx, d, data)
}

// The binding is in the signed request, so it holds on ActiveMQ too: a
// directed request to node1 published again on the agent's topic and on
// the nodes queue for node2 and node3 runs nowhere but on node1, once.
func TestE2ESTOMPDirectedRequestCannotBeRetargeted(t *testing.T) {
	b := amq.Broker(t)
	conf, _, nodes := startSTOMPNodes(t, b, 3, "")
	pingAll(t, conf, 3, 20*time.Second)
	names := []string{"node1.stomp.example.net", "node2.stomp.example.net", "node3.stomp.example.net"}
	ctx := context.Background()
	cfg, _, err := config.LoadClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	p, err := x509.New(x509.ConfigFrom(cfg.Security))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := newSigner(cfg, p)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingConn{Connector: connectWith(t, conf, false), directed: map[string][]byte{}}
	l := logrus.New()
	l.SetOutput(io.Discard)
	cl, err := client.New(client.Options{Connector: rec, Signer: signer, Verifier: p, Identity: cfg.Identity,
		Log: logrus.NewEntry(l)})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := cl.Do(ctx, client.Request{Agent: "rpcutil", Action: "ping", Filter: protocol.NewFilter("rpcutil"),
		Targets: names[:1], Expect: 1, Timeout: 10 * time.Second}, nil)
	if err != nil || sum.Replies != 1 || sum.Failed != 0 {
		t.Fatalf("directed ping over ActiveMQ: %+v %v", sum, err)
	}
	msg := rec.directed[names[0]]
	if req := signedRequest(t, msg); !slices.Equal(req.Filter.Identity, names[:1]) {
		t.Fatalf("signed request names %v", req.Filter.Identity)
	}

	attacker := connectWith(t, filepath.Join(filepath.Dir(conf), "guest.conf"), false)
	before := nodeStats(nodes)
	for _, d := range []connector.Destination{
		{Kind: connector.Broadcast, Collective: "mcollective", Agent: "rpcutil"},
		{Kind: connector.Directed, Collective: "mcollective", Identity: names[0]},
		{Kind: connector.Directed, Collective: "mcollective", Identity: names[1]},
		{Kind: connector.Directed, Collective: "mcollective", Identity: names[2]},
	} {
		if err := attacker.Publish(ctx, d, msg); err != nil {
			t.Fatalf("re-publish to %+v: %v", d, err)
		}
	}
	if err := attacker.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	after := waitReceived(t, nodes, before, []uint64{2, 2, 2})
	for i, n := range names {
		if after[i].Passed != before[i].Passed {
			t.Errorf("%s accepted a re-published copy", n)
		}
		want := 0
		if i == 0 {
			want = 1
		} else if after[i].Filtered-before[i].Filtered != 1 {
			t.Errorf("%s filtered out %d copies, want 1 (the second is a replay)", n, after[i].Filtered-before[i].Filtered)
		}
		if got := auditedRequests(t, filepath.Dir(conf), n, sum.RequestID); got != want {
			t.Errorf("%s has %d audit records of request %s, want %d", n, got, sum.RequestID, want)
		}
	}
	if got := after[0].Replayed - before[0].Replayed; got != 2 {
		t.Errorf("node1 refused %d copies as replays, want 2", got)
	}
}
