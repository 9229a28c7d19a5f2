package cli

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/dial"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server"
)

// strictRig publishes hand-made requests to a fleet over its embedded
// broker and watches reply subjects, each with the certificate of the
// user it belongs to.
type strictRig struct {
	t     *testing.T // the running subtest
	top   *testing.T // owns the connections
	f     *Fleet
	conns map[string]connector.Connector // by certificate name
}

func (r *strictRig) conn(user string) connector.Connector {
	r.t.Helper()
	if c, ok := r.conns[user]; ok {
		return c
	}
	cfg, _, err := config.LoadClient(r.f.ClientConfig)
	if err != nil {
		r.t.Fatal(err)
	}
	pki := filepath.Join(r.f.Dir, "pki")
	sc := x509.ConfigFrom(cfg.Security)
	sc.CertFile, sc.KeyFile = filepath.Join(pki, user+".pem"), filepath.Join(pki, user+".key")
	p, err := x509.New(sc)
	if err != nil {
		r.t.Fatal(err)
	}
	l := logrus.New()
	l.SetOutput(io.Discard)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dial.Open(ctx, dial.ConfigFrom(&cfg.Common), p, logrus.NewEntry(l))
	if err != nil {
		r.t.Fatal(err)
	}
	r.top.Cleanup(func() { c.Close() })
	r.conns[user] = c
	return c
}

// watch counts the messages on reply subject replyTo, subscribed as user.
func (r *strictRig) watch(user, replyTo string) *atomic.Int32 {
	r.t.Helper()
	var n atomic.Int32
	c := r.conn(user)
	sub, err := c.Subscribe(connector.Destination{Kind: connector.Reply, ReplyTo: replyTo}, func(connector.Message) { n.Add(1) })
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { sub.Unsubscribe() })
	if err := c.Flush(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	return &n
}

func (r *strictRig) publish(on connector.Destination, msg []byte) {
	r.t.Helper()
	c := r.conn("demo.mcollective")
	if err := c.Publish(context.Background(), on, msg); err != nil {
		r.t.Fatal(err)
	}
	if err := c.Flush(context.Background()); err != nil {
		r.t.Fatal(err)
	}
}

// refusedLines are the node log lines of refusals that name want (every
// string in it).
func (r *strictRig) refusedLines(want ...string) int {
	n := 0
	for _, l := range r.f.NodeLog.Lines("request refused") {
		all := true
		for _, w := range want {
			all = all && strings.Contains(l, w)
		}
		if all {
			n++
		}
	}
	return n
}

// expectRefused publishes msg on on and waits until every node logged a
// refusal naming want; then no reply may have reached replies.
func (r *strictRig) expectRefused(on connector.Destination, msg []byte, replies *atomic.Int32, want ...string) {
	r.t.Helper()
	before := r.refusedLines(want...)
	r.publish(on, msg)
	deadline := time.Now().Add(10 * time.Second)
	for r.refusedLines(want...) < before+len(r.f.Nodes) {
		if time.Now().After(deadline) {
			r.t.Fatalf("nodes did not log a refusal naming %q; log:\n%s", want, strings.Join(r.f.NodeLog.Lines("request refused"), "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if n := replies.Load(); n != 0 {
		r.t.Fatalf("%d replies to a refused request", n)
	}
}

// expectReplies publishes msg and waits for one reply from every node.
func (r *strictRig) expectReplies(on connector.Destination, msg []byte, replies *atomic.Int32) {
	r.t.Helper()
	r.publish(on, msg)
	deadline := time.Now().Add(10 * time.Second)
	for int(replies.Load()) < len(r.f.Nodes) {
		if time.Now().After(deadline) {
			r.t.Fatalf("%d of %d replies", replies.Load(), len(r.f.Nodes))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestE2EStrictInput: the node-side refusals of issue 13 over a real
// broker with real certificates. Each refused request gets no reply, is
// logged by every node with the caller and the reason, and runs nothing.
func TestE2EStrictInput(t *testing.T) {
	f := startFleet(t, 2)
	issueTo(t, f, "bob.mcollective", x509.IssueOptions{})
	issueTo(t, f, "mallory.mcollective", x509.IssueOptions{SANs: []string{"x.privileged.mcollective"}})
	r := &strictRig{t: t, top: t, f: f, conns: map[string]connector.Connector{}}
	demo := func() *forge { return newForge(t, f, "demo.mcollective") }

	t.Run("replay re-signed with a new time", func(t *testing.T) {
		r.t = t
		fg := demo()
		replies := r.watch("demo.mcollective", fg.replyToOrOwn())
		r.expectReplies(rpcutilSubject, fg.bytes(), replies)
		replies.Store(0)
		fg.req.Time--
		r.expectRefused(rpcutilSubject, fg.bytes(), replies, "reason=replay", `caller="choria=demo.mcollective"`, "request="+fg.req.ID)
	})
	t.Run("unknown filter selector", func(t *testing.T) {
		r.t = t
		fg := demo()
		fg.edit = func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"compound":[]`), []byte(`"compound":[],"exclude_identity":["node1"]`), 1)
		}
		replies := r.watch("demo.mcollective", fg.replyToOrOwn())
		r.expectRefused(rpcutilSubject, fg.bytes(), replies, "reason=filter", "exclude_identity", `caller="choria=demo.mcollective"`)
	})
	t.Run("unknown compound function", func(t *testing.T) {
		r.t = t
		fg := demo()
		fg.edit = func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"compound":[]`), []byte(`"compound":[[{"expr":"nosuch('x')"}]]`), 1)
		}
		replies := r.watch("demo.mcollective", fg.replyToOrOwn())
		r.expectRefused(rpcutilSubject, fg.bytes(), replies, "reason=filter", "nosuch")
	})
	for _, id := range []string{strings.Repeat("z", 32), "0123456789ABCDEF0123456789ABCDEF", "../../../../tmp/x"} {
		t.Run("request id "+id, func(t *testing.T) {
			r.t = t
			fg := demo()
			fg.req.ID = id
			fg.replyTo = connector.ReplyTo("mcollective", fg.req.CallerID, "malformed")
			replies := r.watch("demo.mcollective", fg.replyTo)
			r.expectRefused(rpcutilSubject, fg.bytes(), replies, "reason=malformed", "32 lower-case hex")
		})
	}
	t.Run("duplicate callerid, bob first and the signer last", func(t *testing.T) {
		r.t = t
		fg := demo()
		fg.edit = func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"callerid":"choria=demo.mcollective"`),
				[]byte(`"callerid":"choria=bob.mcollective","callerid":"choria=demo.mcollective"`), 1)
		}
		replies := r.watch("demo.mcollective", fg.replyToOrOwn())
		r.expectRefused(rpcutilSubject, fg.bytes(), replies, "reason=malformed", `key \"callerid\" twice`)
	})
	t.Run("duplicate key in the agent data", func(t *testing.T) {
		r.t = t
		fg := demo()
		fg.req.Message = `{"agent":"rpcutil","action":"get_fact","data":{"fact":"role","fact":"secret"}}`
		// the payload is refused with an error reply naming the key, not run
		got := make(chan *protocol.RPCReply, 4)
		sub, err := r.conn("demo.mcollective").Subscribe(connector.Destination{Kind: connector.Reply, ReplyTo: fg.replyToOrOwn()},
			func(m connector.Message) { got <- decodeRPCOutcome(t, server.Outcome{Reply: m.Data}) })
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
		if err := r.conn("demo.mcollective").Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		r.publish(rpcutilSubject, fg.bytes())
		for range f.Nodes {
			select {
			case rep := <-got:
				if rep.StatusCode != protocol.InvalidData || !strings.Contains(rep.StatusMsg, `key "fact" twice`) {
					t.Fatalf("reply %d %q", rep.StatusCode, rep.StatusMsg)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no reply")
			}
		}
	})
	t.Run("envelope agent is not the subject's agent", func(t *testing.T) {
		r.t = t
		fg := demo()
		replies := r.watch("demo.mcollective", fg.replyToOrOwn())
		on := connector.Destination{Kind: connector.Broadcast, Collective: "mcollective", Agent: "discovery"}
		r.expectRefused(on, fg.bytes(), replies, "reason=subject", `caller="choria=demo.mcollective"`, `agent \"rpcutil\"`, `agent \"discovery\"`)
	})
	t.Run("reply-to of another user", func(t *testing.T) {
		r.t = t
		fg := demo()
		fg.replyTo = connector.ReplyTo("mcollective", "choria=bob.mcollective", fg.req.ID)
		bobs := r.watch("bob.mcollective", fg.replyTo)
		r.expectRefused(rpcutilSubject, fg.bytes(), bobs, "reason=reply_to", `caller="choria=demo.mcollective"`)
	})
	t.Run("certificate privileged only by a SAN", func(t *testing.T) {
		r.t = t
		fg := newForge(t, f, "mallory.mcollective")
		fg.req.CallerID, fg.req.SenderID = "choria=demo.mcollective", "demo.mcollective"
		replies := r.watch("demo.mcollective", fg.replyToOrOwn())
		r.expectRefused(rpcutilSubject, fg.bytes(), replies, "reason=caller", "mallory.mcollective")
	})
}
