// Package conformance is one test suite for every connector.Connector
// implementation, run against a real broker: NATS today, STOMP/ActiveMQ
// later. An implementation's tests provide a Harness and call Run.
//
// The suite proves absence ("this subscriber did not get that message")
// with barriers instead of sleeps: after the message under test the same
// publisher sends a marker that the other subscriber does receive, and
// since a broker keeps one publisher's order towards one subscription, a
// stray copy would have arrived before the marker.
package conformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/connector"
)

// Harness gives the suite connections to one broker.
type Harness interface {
	// Connect returns a new connection named name, authenticated with a
	// certificate the broker trusts. The harness closes it when the test
	// ends. The suite names connections that act as clients (publish
	// requests, read replies) "client…", "alice" or "bob"; every other
	// name acts as a node. A harness whose broker enforces per-role
	// permissions (ActiveMQ's authorization map) logs in by that rule.
	Connect(t *testing.T, name string) connector.Connector
	// ConnectUntrusted tries to connect with a certificate from another
	// CA. It must return the (non-nil) error.
	ConnectUntrusted(t *testing.T) error
	// RestartBroker stops the broker and starts it again on the same
	// address. Existing connections must recover by themselves.
	RestartBroker(t *testing.T)
}

// Timeout bounds every wait in the suite.
const Timeout = 15 * time.Second

// Run runs the whole suite against h.
func Run(t *testing.T, h Harness) {
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"PublishSubscribe", testPublishSubscribe},
		{"BroadcastFanOut", testBroadcastFanOut},
		{"ServiceDeliversToOne", testService},
		{"DirectedOnlyToIdentity", testDirected},
		{"DirectedAcrossNodes", testDirectedAcrossNodes},
		{"ReplyRouting", testReply},
		{"CollectivesIsolate", testCollectives},
		{"LargeMessage", testLargeMessage},
		{"InvalidDestinations", testInvalidDestinations},
		{"Unsubscribe", testUnsubscribe},
		{"Closed", testClosed},
		{"UntrustedRefused", testUntrusted},
		{"ReconnectAfterRestart", testReconnect},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
	}
}

// inbox records the messages one subscription receives.
type inbox struct {
	mu   sync.Mutex
	msgs []connector.Message
}

func (b *inbox) handle(m connector.Message) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m.Data = bytes.Clone(m.Data)
	b.msgs = append(b.msgs, m)
}

// payloads returns the payloads received so far as strings.
func (b *inbox) payloads() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, len(b.msgs))
	for i, m := range b.msgs {
		out[i] = string(m.Data)
	}
	return out
}

func (b *inbox) has(payload string) bool {
	for _, p := range b.payloads() {
		if p == payload {
			return true
		}
	}
	return false
}

// subscribe subscribes an inbox to dest and unsubscribes when t ends.
func subscribe(t *testing.T, c connector.Connector, dest connector.Destination) *inbox {
	t.Helper()
	in := &inbox{}
	sub, err := c.Subscribe(dest, in.handle)
	if err != nil {
		t.Fatalf("subscribe %+v: %v", dest, err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return in
}

// ready makes sure every subscription made through subs so far is known
// to the broker: a connector flushes its subscribe requests with Flush.
func ready(t *testing.T, conns ...connector.Connector) {
	t.Helper()
	for _, c := range conns {
		ctx, cancel := context.WithTimeout(context.Background(), Timeout)
		err := c.Flush(ctx)
		cancel()
		if err != nil {
			t.Fatalf("flush: %v", err)
		}
	}
}

func publish(t *testing.T, c connector.Connector, dest connector.Destination, data string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	if err := c.Publish(ctx, dest, []byte(data)); err != nil {
		t.Fatalf("publish %q to %+v: %v", data, dest, err)
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatalf("flush after publish to %+v: %v", dest, err)
	}
}

// eventually polls f until it returns nil or Timeout passes.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	wait := 2 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not done after %v: %v", what, Timeout, err)
		}
		time.Sleep(wait)
		wait = min(wait*2, 50*time.Millisecond)
	}
}

// waitFor waits until in has received payload.
func waitFor(t *testing.T, in *inbox, payload string) {
	t.Helper()
	eventually(t, "receive "+payload, func() error {
		if in.has(payload) {
			return nil
		}
		return fmt.Errorf("got %q", in.payloads())
	})
}

// expect checks the exact sequence of payloads in.
func expect(t *testing.T, who string, in *inbox, want ...string) {
	t.Helper()
	got := in.payloads()
	if !slices.Equal(got, want) {
		t.Errorf("%s received %q, want %q", who, got, want)
	}
}

// collective is a per-test collective name so tests never see each
// other's traffic.
func collective(t *testing.T, suffix string) string {
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	return strings.ToLower(name) + "_" + suffix
}

func broadcast(coll, agent string) connector.Destination {
	return connector.Destination{Kind: connector.Broadcast, Collective: coll, Agent: agent}
}

func testPublishSubscribe(t *testing.T, h Harness) {
	coll := collective(t, "c")
	dest := broadcast(coll, "rpcutil")
	node, client := h.Connect(t, "node1"), h.Connect(t, "client1")
	in := subscribe(t, node, dest)
	ready(t, node)
	publish(t, client, dest, "hello")
	waitFor(t, in, "hello")
	in.mu.Lock()
	got := in.msgs[0].Destination
	in.mu.Unlock()
	if got != dest {
		t.Errorf("message destination = %+v, want the subscription's %+v", got, dest)
	}
	publish(t, client, dest, "second")
	waitFor(t, in, "second")
	expect(t, "node1", in, "hello", "second")
}

func testBroadcastFanOut(t *testing.T, h Harness) {
	const conns, perConn = 10, 5
	coll := collective(t, "c")
	dest := broadcast(coll, "echo")
	var inboxes []*inbox
	var nodes []connector.Connector
	for i := range conns {
		n := h.Connect(t, fmt.Sprintf("fan%02d", i))
		nodes = append(nodes, n)
		for range perConn {
			inboxes = append(inboxes, subscribe(t, n, dest))
		}
	}
	ready(t, nodes...)
	client := h.Connect(t, "client1")
	for _, p := range []string{"m1", "m2", "m3", "end"} {
		publish(t, client, dest, p)
	}
	for i, in := range inboxes {
		waitFor(t, in, "end")
		expect(t, fmt.Sprintf("subscriber %d", i), in, "m1", "m2", "m3", "end")
	}
}

func testService(t *testing.T, h Harness) {
	const members, msgs = 5, 40
	coll := collective(t, "c")
	dest := connector.Destination{Kind: connector.Service, Collective: coll, Agent: "scheduler"}
	var inboxes []*inbox
	var nodes []connector.Connector
	for i := range members {
		n := h.Connect(t, fmt.Sprintf("svc%d", i))
		nodes = append(nodes, n)
		inboxes = append(inboxes, subscribe(t, n, dest))
	}
	// A plain broadcast subscriber of the same agent must not receive
	// service requests: they are different destinations.
	other := subscribe(t, nodes[0], broadcast(coll, "scheduler"))
	ready(t, nodes...)
	client := h.Connect(t, "client1")
	for i := range msgs {
		publish(t, client, dest, fmt.Sprintf("job%02d", i))
	}
	count := func() map[string]int {
		seen := map[string]int{}
		for _, in := range inboxes {
			for _, p := range in.payloads() {
				seen[p]++
			}
		}
		return seen
	}
	eventually(t, "every job delivered", func() error {
		if n := len(count()); n < msgs {
			return fmt.Errorf("%d of %d distinct jobs delivered", n, msgs)
		}
		return nil
	})
	for p, n := range count() {
		if n != 1 {
			t.Errorf("%s delivered %d times, want once", p, n)
		}
	}
	publish(t, client, broadcast(coll, "scheduler"), "barrier")
	waitFor(t, other, "barrier")
	expect(t, "broadcast subscriber", other, "barrier")
}

func testDirected(t *testing.T, h Harness) {
	coll := collective(t, "c")
	ids := []string{"web1", "web10", "web1.example.net", "web1-old"}
	node := h.Connect(t, "nodes")
	inboxes := map[string]*inbox{}
	for _, id := range ids {
		inboxes[id] = subscribe(t, node, connector.Destination{Kind: connector.Directed, Collective: coll, Identity: id})
	}
	ready(t, node)
	client := h.Connect(t, "client1")
	publish(t, client, connector.Destination{Kind: connector.Directed, Collective: coll, Identity: "web1"}, "for-web1")
	for _, id := range ids[1:] {
		publish(t, client, connector.Destination{Kind: connector.Directed, Collective: coll, Identity: id}, "marker-"+id)
	}
	waitFor(t, inboxes["web1"], "for-web1")
	for _, id := range ids[1:] {
		waitFor(t, inboxes[id], "marker-"+id)
		expect(t, id, inboxes[id], "marker-"+id)
	}
	expect(t, "web1", inboxes["web1"], "for-web1")
}

// testDirectedAcrossNodes: nodes on separate connections, each subscribed
// to its own identity (and, like real nodes, to the same broadcast agent);
// a directed message reaches exactly the one node it names.
func testDirectedAcrossNodes(t *testing.T, h Harness) {
	coll := collective(t, "c")
	ids := []string{"node-a", "node-b", "node-c"}
	inboxes := map[string]*inbox{}
	var nodes []connector.Connector
	for _, id := range ids {
		n := h.Connect(t, id)
		nodes = append(nodes, n)
		inboxes[id] = subscribe(t, n, connector.Destination{Kind: connector.Directed, Collective: coll, Identity: id})
		subscribe(t, n, broadcast(coll, "rpcutil"))
	}
	ready(t, nodes...)
	client := h.Connect(t, "client1")
	for i := range 3 {
		publish(t, client, connector.Destination{Kind: connector.Directed, Collective: coll, Identity: "node-b"}, fmt.Sprintf("for-b-%d", i))
	}
	for _, id := range []string{"node-a", "node-c"} {
		publish(t, client, connector.Destination{Kind: connector.Directed, Collective: coll, Identity: id}, "marker-"+id)
	}
	waitFor(t, inboxes["node-b"], "for-b-2")
	for _, id := range []string{"node-a", "node-c"} {
		waitFor(t, inboxes[id], "marker-"+id)
		expect(t, id, inboxes[id], "marker-"+id)
	}
	expect(t, "node-b", inboxes["node-b"], "for-b-0", "for-b-1", "for-b-2")
}

func testReply(t *testing.T, h Harness) {
	coll := collective(t, "c")
	alice, bob, node := h.Connect(t, "alice"), h.Connect(t, "bob"), h.Connect(t, "node1")
	aliceTo := alice.NewReplyTo(coll, "up=alice", "0123456789abcdef0123456789abcdef")
	bobTo := bob.NewReplyTo(coll, "up=bob", "0123456789abcdef0123456789abcdef")
	aliceTo2 := alice.NewReplyTo(coll, "up=alice", "fedcba9876543210fedcba9876543210")
	if aliceTo == bobTo || aliceTo == aliceTo2 {
		t.Fatalf("reply-to names collide: %q %q %q", aliceTo, bobTo, aliceTo2)
	}
	aliceIn := subscribe(t, alice, connector.Destination{Kind: connector.Reply, ReplyTo: aliceTo})
	alice2In := subscribe(t, alice, connector.Destination{Kind: connector.Reply, ReplyTo: aliceTo2})
	bobIn := subscribe(t, bob, connector.Destination{Kind: connector.Reply, ReplyTo: bobTo})
	ready(t, alice, bob)
	publish(t, node, connector.Destination{Kind: connector.Reply, ReplyTo: aliceTo}, "reply-alice")
	publish(t, node, connector.Destination{Kind: connector.Reply, ReplyTo: aliceTo2}, "marker-alice2")
	publish(t, node, connector.Destination{Kind: connector.Reply, ReplyTo: bobTo}, "marker-bob")
	waitFor(t, aliceIn, "reply-alice")
	waitFor(t, alice2In, "marker-alice2")
	waitFor(t, bobIn, "marker-bob")
	expect(t, "alice", aliceIn, "reply-alice")
	expect(t, "alice's other request", alice2In, "marker-alice2")
	expect(t, "bob", bobIn, "marker-bob")
}

func testCollectives(t *testing.T, h Harness) {
	dev, prod := collective(t, "dev"), collective(t, "prod")
	node := h.Connect(t, "node1")
	devIn := subscribe(t, node, broadcast(dev, "rpcutil"))
	prodIn := subscribe(t, node, broadcast(prod, "rpcutil"))
	devNode := subscribe(t, node, connector.Destination{Kind: connector.Directed, Collective: dev, Identity: "node1"})
	prodNode := subscribe(t, node, connector.Destination{Kind: connector.Directed, Collective: prod, Identity: "node1"})
	ready(t, node)
	client := h.Connect(t, "client1")
	publish(t, client, broadcast(dev, "rpcutil"), "dev-broadcast")
	publish(t, client, connector.Destination{Kind: connector.Directed, Collective: dev, Identity: "node1"}, "dev-directed")
	publish(t, client, broadcast(prod, "rpcutil"), "prod-marker")
	publish(t, client, connector.Destination{Kind: connector.Directed, Collective: prod, Identity: "node1"}, "prod-directed-marker")
	waitFor(t, devIn, "dev-broadcast")
	waitFor(t, devNode, "dev-directed")
	waitFor(t, prodIn, "prod-marker")
	waitFor(t, prodNode, "prod-directed-marker")
	expect(t, "prod broadcast", prodIn, "prod-marker")
	expect(t, "prod directed", prodNode, "prod-directed-marker")
	expect(t, "dev broadcast", devIn, "dev-broadcast")
}

func testLargeMessage(t *testing.T, h Harness) {
	coll := collective(t, "c")
	dest := connector.Destination{Kind: connector.Directed, Collective: coll, Identity: "big"}
	node, client := h.Connect(t, "big"), h.Connect(t, "client1")
	in := subscribe(t, node, dest)
	ready(t, node)
	data := make([]byte, 1<<20)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	if err := client.Publish(ctx, dest, data); err != nil {
		t.Fatalf("publish 1 MiB: %v", err)
	}
	if err := client.Flush(ctx); err != nil {
		t.Fatalf("flush 1 MiB: %v", err)
	}
	eventually(t, "receive 1 MiB", func() error {
		in.mu.Lock()
		defer in.mu.Unlock()
		if len(in.msgs) == 0 {
			return errors.New("nothing yet")
		}
		return nil
	})
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.msgs) != 1 || !bytes.Equal(in.msgs[0].Data, data) {
		t.Errorf("received %d messages, first %d bytes; want the 1 MiB payload intact once", len(in.msgs), len(in.msgs[0].Data))
	}
}
