package mcollective

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/client"
	"github.com/tuttifleet/tutti/connector"
	mco "github.com/tuttifleet/tutti/connector/mcollective"
	rm "github.com/tuttifleet/tutti/connector/mcollective/rubymarshal"
	"github.com/tuttifleet/tutti/connector/protocol"
)

func newLoopClient(t *testing.T) (*Client, *loop) {
	t.Helper()
	k := func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	server := k()
	l := &loop{server: server, rogue: k(), inbox: map[string]connector.Handler{}, t: t}
	log := logrus.New()
	log.SetOutput(io.Discard)
	c, err := New(Options{Connector: l, Serializer: mco.Marshal, Key: k(), Caller: "cert=alice", ServerKey: &server.PublicKey,
		Sender: "me", Collective: "mcollective", Log: logrus.NewEntry(log)})
	if err != nil {
		t.Fatal(err)
	}
	return c, l
}

// TestDoResults: Do hands over the verified reply as a client.Result
// with its RPC data as JSON, the forged one as Failed with its reason,
// drops the reply to another request, and sends the targets as the
// identity filter with the inputs as Symbol-keyed data.
func TestDoResults(t *testing.T) {
	c, l := newLoopClient(t)
	var got []client.Result
	filter := protocol.Filter{Identity: []string{"/g/"}, Fact: []protocol.FactFilter{{Fact: "role", Operator: "==", Value: "web"}}, CFClass: []string{"base"}}
	sum, err := c.Do(context.Background(), client.Request{Agent: "rpcutil", Action: "ping", Data: json.RawMessage(`{"n":2}`),
		Filter: filter, Targets: []string{"good", "gone"}, Timeout: 200 * time.Millisecond}, func(r client.Result) { got = append(got, r) })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Sender != "good" || got[0].State != client.Verified || got[0].RPC == nil || string(got[0].RPC.Data) != `{"pong":1}` {
		t.Fatalf("results %+v", got)
	}
	if got[1].Sender != "forged" || got[1].State != client.Failed || got[1].Reason != client.ReasonSignature || got[1].Err == nil {
		t.Fatalf("forged reply %+v", got[1])
	}
	if sum.Replies != 2 || sum.Failed != 1 || len(sum.Refused) != 1 || len(sum.Missing) != 1 || sum.Missing[0] != "gone" || sum.RequestID == "" {
		t.Fatalf("summary %+v", sum)
	}
	req := l.last
	if len(req.Filter.Identity) != 2 || req.Filter.Identity[0] != "good" || len(req.Filter.Fact) != 1 || req.Filter.CFClass[0] != "base" {
		t.Fatalf("filter sent %+v", req.Filter)
	}
	b, err := mco.DecodeBody(mco.Marshal, req.Body)
	if err != nil {
		t.Fatal(err)
	}
	rpc, ok, err := b.RPC()
	if err != nil || !ok {
		t.Fatalf("rpc body %v %v", ok, err)
	}
	if n, _ := rpc.Data.Get(rm.Symbol("n")); n != int64(2) {
		t.Fatalf("data %#v", rpc.Data)
	}
	if pr, _ := rpc.Data.Get(rm.Symbol("process_results")); pr != true {
		t.Fatalf("data %#v", rpc.Data)
	}
}

// TestDoExpectEndsEarly: the wait ends at Expect nodes, not at Timeout.
func TestDoExpectEndsEarly(t *testing.T) {
	c, _ := newLoopClient(t)
	start := time.Now()
	nodes, _, err := c.Discover(context.Background(), protocol.Filter{}, "", 10*time.Second, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	// the loop answers discovery with an RPC body: not a pong, refused
	if len(nodes) != 0 {
		t.Fatalf("nodes %v", nodes)
	}
	sum, err := c.Do(context.Background(), client.Request{Agent: "rpcutil", Action: "ping", Expect: 1, Timeout: 10 * time.Second}, nil)
	if err != nil || sum.Replies == 0 {
		t.Fatalf("%+v %v", sum, err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("waited %s: the idle gap and Expect did not end the wait", time.Since(start))
	}
}

func TestFilterFromRefusesCompound(t *testing.T) {
	_, err := FilterFrom(protocol.Filter{Compound: [][]protocol.CompoundEntry{{{Expr: "with('a=b')"}}}}, nil)
	if !errors.Is(err, ErrCompound) {
		t.Fatalf("compound filter: %v", err)
	}
	c, _ := newLoopClient(t)
	if _, err := c.Do(context.Background(), client.Request{Discovery: true, Filter: protocol.Filter{Unknown: []string{"x"}}}, nil); err == nil {
		t.Fatal("unknown filter keys sent")
	}
}
