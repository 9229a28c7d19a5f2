package conformance

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/connector"
)

func testInvalidDestinations(t *testing.T, h Harness) {
	c := h.Connect(t, "client1")
	coll := collective(t, "c")
	bad := []struct {
		name string
		dest connector.Destination
	}{
		{"agent with space", broadcast(coll, "rpc util")},
		{"agent wildcard", broadcast(coll, "*")},
		{"agent upper case", broadcast(coll, "RPCUtil")},
		{"empty agent", broadcast(coll, "")},
		{"collective wildcard", broadcast(">", "rpcutil")},
		{"collective with dot", broadcast("a.b", "rpcutil")},
		{"empty collective", broadcast("", "rpcutil")},
		{"service agent wildcard", connector.Destination{Kind: connector.Service, Collective: coll, Agent: "a>"}},
		{"identity wildcard", connector.Destination{Kind: connector.Directed, Collective: coll, Identity: "node.*"}},
		{"identity with space", connector.Destination{Kind: connector.Directed, Collective: coll, Identity: "node 1"}},
		{"empty identity", connector.Destination{Kind: connector.Directed, Collective: coll}},
		{"reply-to wildcard", connector.Destination{Kind: connector.Reply, ReplyTo: coll + ".reply.>"}},
		{"reply-to with space", connector.Destination{Kind: connector.Reply, ReplyTo: coll + ".reply. x"}},
		{"empty reply-to", connector.Destination{Kind: connector.Reply}},
		{"no kind", connector.Destination{Collective: coll, Agent: "rpcutil"}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), Timeout)
			defer cancel()
			if err := c.Publish(ctx, tc.dest, []byte("x")); err == nil {
				t.Errorf("Publish(%+v) succeeded, want an error", tc.dest)
			}
			sub, err := c.Subscribe(tc.dest, func(connector.Message) {})
			if err == nil {
				_ = sub.Unsubscribe()
				t.Errorf("Subscribe(%+v) succeeded, want an error", tc.dest)
			}
		})
	}
}

func testUnsubscribe(t *testing.T, h Harness) {
	coll := collective(t, "c")
	dest := broadcast(coll, "rpcutil")
	node, client := h.Connect(t, "node1"), h.Connect(t, "client1")
	gone := &inbox{}
	sub, err := node.Subscribe(dest, gone.handle)
	if err != nil {
		t.Fatal(err)
	}
	stays := subscribe(t, node, dest)
	ready(t, node)
	publish(t, client, dest, "one")
	waitFor(t, gone, "one")
	if err := sub.Unsubscribe(); err != nil {
		t.Fatalf("unsubscribe: %v", err)
	}
	_ = sub.Unsubscribe() // a second call must not panic
	ready(t, node)
	publish(t, client, dest, "two")
	waitFor(t, stays, "two")
	expect(t, "unsubscribed handler", gone, "one")
	expect(t, "remaining handler", stays, "one", "two")
}

func testClosed(t *testing.T, h Harness) {
	c := h.Connect(t, "client1")
	if err := c.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	dest := broadcast(collective(t, "c"), "rpcutil")
	if err := c.Publish(ctx, dest, []byte("x")); !errors.Is(err, connector.ErrClosed) {
		t.Errorf("Publish after Close = %v, want connector.ErrClosed", err)
	}
	if _, err := c.Subscribe(dest, func(connector.Message) {}); !errors.Is(err, connector.ErrClosed) {
		t.Errorf("Subscribe after Close = %v, want connector.ErrClosed", err)
	}
	if err := c.Flush(ctx); !errors.Is(err, connector.ErrClosed) {
		t.Errorf("Flush after Close = %v, want connector.ErrClosed", err)
	}
}

func testUntrusted(t *testing.T, h Harness) {
	err := h.ConnectUntrusted(t)
	if err == nil {
		t.Fatal("a client with a certificate from another CA connected; want a TLS refusal")
	}
	t.Logf("refused as expected: %v", err)
}

// testReconnect runs last: it restarts the broker under every other
// connection of the harness.
func testReconnect(t *testing.T, h Harness) {
	coll := collective(t, "c")
	dest := broadcast(coll, "rpcutil")
	direct := connector.Destination{Kind: connector.Directed, Collective: coll, Identity: "node1"}
	node, client := h.Connect(t, "node1"), h.Connect(t, "client1")
	in := subscribe(t, node, dest)
	directIn := subscribe(t, node, direct)
	ready(t, node)
	publish(t, client, dest, "before")
	waitFor(t, in, "before")

	h.RestartBroker(t)

	// Publish until a message sent after the restart arrives: both
	// connections must reconnect and the node's subscriptions come back
	// without the test subscribing again.
	for _, d := range []struct {
		dest connector.Destination
		in   *inbox
	}{{dest, in}, {direct, directIn}} {
		var n atomic.Int64
		eventually(t, "receive after restart on "+d.dest.Kind.String(), func() error {
			p := fmt.Sprintf("after-%d", n.Add(1))
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if err := client.Publish(ctx, d.dest, []byte(p)); err != nil {
				return fmt.Errorf("publish: %w", err)
			}
			_ = client.Flush(ctx)
			for _, got := range d.in.payloads() {
				if strings.HasPrefix(got, "after-") {
					return nil
				}
			}
			return fmt.Errorf("received only %q", d.in.payloads())
		})
	}
}
