package mcollective

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/connector"
	mco "github.com/tuttifleet/tutti/connector/mcollective"
	rm "github.com/tuttifleet/tutti/connector/mcollective/rubymarshal"
)

// loop is a connector whose "nodes" answer every broadcast: one with the
// server key, one with another key, one for another request id.
type loop struct {
	server, rogue *rsa.PrivateKey
	mu            sync.Mutex
	inbox         map[string]connector.Handler
	t             *testing.T
	last          *mco.Request // the last request published
}

func (l *loop) Subscribe(d connector.Destination, h connector.Handler) (connector.Subscription, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inbox[d.ReplyTo] = h
	return sub{}, nil
}

type sub struct{}

func (sub) Unsubscribe() error { return nil }

func (l *loop) Publish(_ context.Context, d connector.Destination, b []byte) error {
	req, err := mco.DecodeRequest(mco.Marshal, b)
	if err != nil {
		l.t.Fatal(err)
	}
	l.mu.Lock()
	h := l.inbox[d.ReplyTo]
	l.last = req
	l.mu.Unlock()
	reply := func(sender, id string, key *rsa.PrivateKey) {
		body, _ := mco.Marshal.Marshal(rm.Sym("statuscode", int64(0), "statusmsg", "OK", "data", rm.Sym("pong", int64(1))))
		hash, _ := mco.Sign(key, body)
		wire, _ := mco.EncodeReply(mco.Marshal, &mco.Reply{SenderID: sender, RequestID: id, SenderAgent: req.Agent, MsgTime: 1, Body: body, Hash: hash})
		h(connector.Message{Data: wire})
	}
	reply("good", req.RequestID, l.server)
	reply("forged", req.RequestID, l.rogue)
	reply("late", "00000000000000000000000000000000", l.server)
	return nil
}

func (l *loop) NewReplyTo(string, string, string) string { return "" }
func (l *loop) Flush(context.Context) error              { return nil }
func (l *loop) Close() error                             { return nil }

func TestRepliesVerified(t *testing.T) {
	k := func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	server, caller := k(), k()
	l := &loop{server: server, rogue: k(), inbox: map[string]connector.Handler{}, t: t}
	log := logrus.New()
	log.SetOutput(io.Discard)
	c, err := New(Options{Connector: l, Serializer: mco.Marshal, Key: caller, Caller: "cert=alice", ServerKey: &server.PublicKey,
		Sender: "me", Collective: "mcollective", Log: logrus.NewEntry(log)})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.RPC(context.Background(), "rpcutil", "ping", nil, mco.Filter{}, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(r) != 1 || r[0].Sender != "good" || r[0].Body.StatusCode != 0 {
		t.Fatalf("replies %+v", r)
	}
	if _, err := New(Options{Connector: l, Serializer: mco.Marshal, Key: caller, Caller: "xcert=alice", ServerKey: &server.PublicKey,
		Log: logrus.NewEntry(log)}); err == nil {
		t.Fatal("callerid xcert=alice accepted")
	}
}
