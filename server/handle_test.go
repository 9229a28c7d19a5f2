package server_test

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/agents"
	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security/replay"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server"
	"github.com/tuttifleet/tutti/server/facts"
)

// recConn records the node's subscriptions and the replies it publishes.
// Tests deliver messages by calling a subscription's handler, on one
// goroutine per subscription as nats.go does.
type recConn struct {
	nopConn
	mu      sync.Mutex
	subs    map[string]connector.Handler // by agent ("" for the directed subject)
	replies chan string                  // reply subjects, in publish order
	flushed int                          // subscriptions made when Flush was last called
}

func (c *recConn) Flush(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flushed = len(c.subs)
	return nil
}

func (c *recConn) Subscribe(d connector.Destination, h connector.Handler) (connector.Subscription, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// the connector sets the subscription's destination on each message
	c.subs[d.Agent] = func(m connector.Message) { m.Destination = d; h(m) }
	return nopSub{}, nil
}

func (c *recConn) Publish(_ context.Context, d connector.Destination, _ []byte) error {
	c.replies <- d.ReplyTo
	return nil
}

func (c *recConn) handler(agent string) connector.Handler {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.subs[agent]
}

type nopSub struct{}

func (nopSub) Unsubscribe() error { return nil }

// newHandleRig is a started node on a recConn with rpcutil and a "slow"
// agent whose action "wait" blocks until release is called.
func newHandleRig(t *testing.T) (*rig, *recConn, func()) {
	t.Helper()
	ca, err := x509.NewCA("handle CA", x509.KeyECDSA, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(name string) *x509.Provider {
		is, err := ca.Issue(name, x509.IssueOptions{KeyType: x509.KeyECDSA})
		if err != nil {
			t.Fatal(err)
		}
		p, err := x509.NewFromPEM(is.CertPEM, is.KeyPEM, ca.CertPEM, x509.Config{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	nodeP, clientP := mk("node1.example.net"), mk("rip.mcollective")
	release := make(chan struct{})
	slow := agents.NewBasic(agents.Metadata{Name: "slow", Timeout: time.Minute}).
		Action("wait", func(ctx context.Context, _ *agents.Request) (any, error) {
			select {
			case <-release:
				return map[string]string{"done": "yes"}, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		})
	conn := &recConn{subs: map[string]connector.Handler{}, replies: make(chan string, 16)}
	l := logrus.New()
	l.SetOutput(io.Discard)
	n, err := server.New(server.Options{
		Settings:  server.Settings{Identity: "node1.example.net", Collectives: []string{"mcollective"}, MaxTTL: time.Hour},
		Connector: conn, Signer: nodeP, Verifier: nodeP, Replay: replay.New(0),
		Facts: facts.Static(map[string]any{"role": "web"}, []string{"base"}), Log: logrus.NewEntry(l),
		Agents: []string{"rpcutil"}, Extra: map[string]agents.Agent{"slow": slow},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	rel := func() { once.Do(func() { close(release) }) }
	t.Cleanup(func() { rel(); n.Shutdown(context.Background()) })
	return &rig{node: n, client: clientP}, conn, rel
}

// replyTo is the reply subject rawRequest puts in msg.
func replyTo(t *testing.T, msg []byte) string {
	t.Helper()
	tr, err := protocol.DecodeTransport(msg, 0)
	if err != nil {
		t.Fatal(err)
	}
	return tr.ReplyTo
}

// TestHandleSlowAction: requests are answered through the subscription
// handler, and an action that blocks does not hold up the next request
// on the same subscription (each request runs on a goroutine of its
// own; docs/performance.md says why running the quick ones on the
// delivering goroutine instead was measured and not kept).
func TestHandleSlowAction(t *testing.T) {
	r, conn, release := newHandleRig(t)
	ping := func(agent, payload string) {
		t.Helper()
		msg := r.rawRequest(t, agent, payload)
		conn.handler(agent)(connector.Message{Data: msg})
		select {
		case got := <-conn.replies:
			if want := replyTo(t, msg); got != want {
				t.Fatalf("%s: reply to %q, want %q", agent, got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no reply", agent)
		}
	}
	ping("discovery", "cGluZw==") // base64 of "ping", as Choria sends it
	rpcPing, _ := protocol.EncodeRPCRequest("rpcutil", "ping", nil)
	ping("rpcutil", string(rpcPing))

	wait, _ := protocol.EncodeRPCRequest("slow", "wait", nil)
	h := conn.handler("slow")
	first, second := r.rawRequest(t, "slow", string(wait)), r.rawRequest(t, "slow", string(wait))
	done := make(chan struct{})
	go func() { // one delivery goroutine, as nats.go runs per subscription
		defer close(done)
		h(connector.Message{Data: first})
		h(connector.Message{Data: second})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a blocked action held up the subscription")
	}
	select {
	case got := <-conn.replies:
		t.Fatalf("reply to %s published before the action was released", got)
	default:
	}
	release()
	got := map[string]bool{}
	for len(got) < 2 {
		select {
		case s := <-conn.replies:
			got[s] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("replies after release: %v", got)
		}
	}
	if !got[replyTo(t, first)] || !got[replyTo(t, second)] {
		t.Fatalf("replies to %v, want both requests", got)
	}
}

// Start returns (and systemd hears READY=1) only once the broker has the
// node's subscriptions: it flushes after the last one.
func TestStartConfirmsSubscriptions(t *testing.T) {
	_, conn, _ := newHandleRig(t)
	conn.mu.Lock()
	defer conn.mu.Unlock()
	if conn.flushed == 0 || conn.flushed != len(conn.subs) {
		t.Fatalf("flushed after %d of %d subscriptions", conn.flushed, len(conn.subs))
	}
}
