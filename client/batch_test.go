package client

import (
	"context"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security/x509"
)

// fakeFleet is an in-memory connector whose nodes answer directed
// requests with replies signed by their own certificates. Nodes not in
// the fleet stay silent.
type fakeFleet struct {
	tb    testing.TB
	nodes map[string]*x509.Provider
	mu    sync.Mutex
	subs  map[string]connector.Handler
	sent  []sentRequest
}

type sentRequest struct {
	to, id string
	at     time.Time
	filter protocol.Filter
	kind   connector.Kind
}

func newFakeFleet(tb testing.TB, names ...string) (*fakeFleet, *Client) {
	tb.Helper()
	ca, err := x509.NewCA("ca", x509.KeyECDSA, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	mk := func(name string) *x509.Provider {
		is, err := ca.Issue(name, x509.IssueOptions{})
		if err != nil {
			tb.Fatal(err)
		}
		p, err := x509.NewFromPEM(is.CertPEM, is.KeyPEM, ca.CertPEM, x509.Config{})
		if err != nil {
			tb.Fatal(err)
		}
		return p
	}
	f := &fakeFleet{tb: tb, nodes: map[string]*x509.Provider{}, subs: map[string]connector.Handler{}}
	for _, n := range names {
		f.nodes[n] = mk(n)
	}
	user := mk("rip.mcollective")
	l := logrus.New()
	l.SetOutput(io.Discard)
	c, err := New(Options{Connector: f, Signer: &LocalSigner{Signer: user, Caller: "choria=rip.mcollective"}, Verifier: user,
		Identity: "rip.mcollective", Log: logrus.NewEntry(l)})
	if err != nil {
		tb.Fatal(err)
	}
	return f, c
}

func (f *fakeFleet) Publish(_ context.Context, dest connector.Destination, data []byte) error {
	tr, err := protocol.DecodeTransport(data, 0)
	if err != nil {
		return err
	}
	sr, err := protocol.DecodeSecureRequest(tr.Data)
	if err != nil {
		return err
	}
	req, err := protocol.DecodeRequest(sr.Message)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.sent = append(f.sent, sentRequest{to: dest.Identity, id: req.ID, at: time.Now(), filter: req.Filter, kind: dest.Kind})
	h := f.subs[tr.ReplyTo]
	f.mu.Unlock()
	node := f.nodes[dest.Identity]
	if dest.Kind != connector.Directed || node == nil || h == nil {
		return nil
	}
	body, _ := protocol.EncodeRPCReply(&protocol.RPCReply{Action: "ping", StatusMsg: "OK", Data: []byte(`{"pong":1}`)})
	msg, _ := protocol.EncodeReply(&protocol.Reply{RequestID: req.ID, SenderID: dest.Identity, Agent: req.Agent, Time: 1, Message: string(body)})
	sig, err := node.Sign(msg)
	if err != nil {
		return err
	}
	sec, _ := protocol.EncodeSecureReply(&protocol.SecureReply{Message: msg, Signature: sig, PubCert: node.CertificatePEM()})
	out, _ := protocol.EncodeTransport(&protocol.Transport{Data: sec, Sender: dest.Identity})
	go h(connector.Message{Data: out})
	return nil
}

func (f *fakeFleet) Subscribe(dest connector.Destination, h connector.Handler) (connector.Subscription, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subs[dest.ReplyTo] = h
	return unsub(func() error { f.mu.Lock(); delete(f.subs, dest.ReplyTo); f.mu.Unlock(); return nil }), nil
}

type unsub func() error

func (u unsub) Unsubscribe() error { return u() }

func (f *fakeFleet) NewReplyTo(collective, _, id string) string { return collective + ".reply.x." + id }
func (f *fakeFleet) Flush(context.Context) error                { return nil }
func (f *fakeFleet) Close() error                               { return nil }

func (f *fakeFleet) requests() []sentRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sent)
}

func TestDoBatched(t *testing.T) {
	nodes := []string{"n1", "n2", "n3", "n4", "n5"}
	f, c := newFakeFleet(t, nodes...)
	targets := append(slices.Clone(nodes), "silent")
	var batches [][]string
	var got []string
	req := Request{Agent: "rpcutil", Action: "ping", Filter: protocol.NewFilter("rpcutil"), Targets: targets, Timeout: 300 * time.Millisecond}
	sum, err := c.DoBatched(context.Background(), req, Batch{Size: 2, Sleep: 50 * time.Millisecond,
		OnBatch: func(i, n int, b []string) {
			if n != 3 || i != len(batches) {
				t.Errorf("OnBatch(%d, %d)", i, n)
			}
			batches = append(batches, b)
		}}, func(r Result) {
		if r.State != Verified {
			t.Errorf("%s: %s %v", r.Sender, r.State, r.Err)
		}
		got = append(got, r.Sender)
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, nodes) {
		t.Fatalf("replies from %v, want %v", got, nodes)
	}
	if want := [][]string{{"n1", "n2"}, {"n3", "n4"}, {"n5", "silent"}}; !slices.EqualFunc(batches, want, slices.Equal) {
		t.Fatalf("batches %v, want %v", batches, want)
	}
	if len(sum.RequestIDs) != 3 || sum.RequestID != sum.RequestIDs[0] || sum.Replies != 5 || !slices.Equal(sum.Missing, []string{"silent"}) {
		t.Fatalf("summary %+v", sum)
	}
	// one request id per batch, each sent to its batch's nodes only, and
	// the batches spaced by at least the sleep
	sent := f.requests()
	byID := map[string][]string{}
	for _, s := range sent {
		byID[s.id] = append(byID[s.id], s.to)
	}
	for i, id := range sum.RequestIDs {
		if !slices.Equal(byID[id], batches[i]) {
			t.Fatalf("request %d went to %v, want %v", i, byID[id], batches[i])
		}
	}
	// n5's batch waits for "silent" until the timeout; the others end
	// as soon as both nodes replied, then sleep
	if gap := sent[2].at.Sub(sent[1].at); gap < 50*time.Millisecond {
		t.Fatalf("second batch %v after the first, want ≥ the 50ms sleep", gap)
	}
}

func TestDoBatchedStopsWhenCancelled(t *testing.T) {
	_, c := newFakeFleet(t, "n1", "n2", "n3")
	ctx, cancel := context.WithCancel(context.Background())
	req := Request{Agent: "rpcutil", Action: "ping", Targets: []string{"n1", "n2", "n3"}, Timeout: time.Second}
	sum, err := c.DoBatched(ctx, req, Batch{Size: 1, Sleep: time.Hour, OnBatch: func(i, _ int, _ []string) {
		if i == 0 {
			time.AfterFunc(20*time.Millisecond, cancel)
		}
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.RequestIDs) != 1 || !slices.Equal(sum.NotSent, []string{"n2", "n3"}) {
		t.Fatalf("after cancel: %+v", sum)
	}
}

func TestDoBatchedRefusals(t *testing.T) {
	_, c := newFakeFleet(t, "n1")
	if _, err := c.DoBatched(context.Background(), Request{Agent: "rpcutil", Action: "ping"}, Batch{Size: 2}, nil); err == nil {
		t.Fatal("a broadcast cannot be batched")
	}
	if _, err := c.DoBatched(context.Background(), Request{Targets: []string{"n1"}}, Batch{Size: -1}, nil); err == nil {
		t.Fatal("negative batch size accepted")
	}
}
