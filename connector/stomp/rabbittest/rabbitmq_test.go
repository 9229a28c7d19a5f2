package rabbittest_test

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/stomp"
	"github.com/tuttifleet/tutti/connector/stomp/rabbittest"
)

// A collective whose exchanges nobody declared: RabbitMQ refuses the
// SUBSCRIBE and closes the connection; Subscribe returns that refusal
// naming the exchange instead of retrying it forever, Flush reports a
// publish to it, and the connection comes back for everything else.
func TestUndeclaredCollectiveIsRefusedWithTheExchange(t *testing.T) {
	b := rmq.Broker(t)
	node := mustConnect(t, config(t, b, "node-undeclared"))
	_, err := node.Subscribe(connector.Destination{Kind: connector.Broadcast, Collective: "nosuch", Agent: "rpcutil"}, func(connector.Message) {})
	if err == nil || !strings.Contains(err.Error(), "no exchange 'nosuch_broadcast'") {
		t.Fatalf("subscribe to an undeclared collective: %v; want a refusal naming nosuch_broadcast", err)
	}

	client := mustConnect(t, config(t, b, "client-undeclared"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := client.Publish(ctx, connector.Destination{Kind: connector.Directed, Collective: "nosuch", Identity: "n1"}, []byte("x")); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if err := client.Flush(ctx); err == nil || !strings.Contains(err.Error(), "no exchange 'nosuch_directed'") {
		t.Fatalf("flush after publishing to an undeclared collective: %v; want the refusal naming nosuch_directed", err)
	}

	// Both connections recover: the declared collective works.
	dest := connector.Destination{Kind: connector.Directed, Collective: rabbittest.Collective, Identity: "node-undeclared"}
	got := make(chan []byte, 1)
	if _, err := node.Subscribe(dest, func(m connector.Message) { got <- m.Data }); err != nil {
		t.Fatalf("subscribe after the refusal: %v", err)
	}
	if err := node.Flush(ctx); err != nil {
		t.Fatalf("node flush: %v", err)
	}
	if err := client.Publish(ctx, dest, []byte("after")); err != nil {
		t.Fatalf("publish after the refusal: %v", err)
	}
	select {
	case m := <-got:
		if string(m) != "after" {
			t.Fatalf("got %q", m)
		}
	case <-ctx.Done():
		t.Fatal("no message after the connections recovered")
	}
}

// The broker's permissions are per role: a node login cannot publish
// requests, a client login cannot read them.
func TestPermissionsPerRole(t *testing.T) {
	b := rmq.Broker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	bcast := connector.Destination{Kind: connector.Broadcast, Collective: rabbittest.Collective, Agent: "rpcutil"}

	node := mustConnect(t, config(t, b, "node-rogue"))
	if err := node.Publish(ctx, bcast, []byte("x")); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if err := node.Flush(ctx); err == nil || !strings.Contains(err.Error(), "access_refused") {
		t.Errorf("a node publishing a broadcast request: flush = %v, want access_refused", err)
	}

	client := mustConnect(t, config(t, b, "client-rogue"))
	if _, err := client.Subscribe(bcast, func(connector.Message) {}); err == nil {
		t.Errorf("a client subscribed to broadcast requests; want access_refused")
	} else {
		t.Logf("refused as expected: %v", err)
	}
}

// A wrong password is refused at CONNECT with the broker's reason, and
// so is a connection without a client certificate (at the handshake).
func TestLoginRefusals(t *testing.T) {
	b := rmq.Broker(t)
	cfg := config(t, b, "client-badpass")
	cfg.Brokers[0].Password = "wrong"
	if _, err := connect(t, cfg, 3*time.Second); err == nil || !strings.Contains(err.Error(), "refused the connection") {
		t.Errorf("wrong password: %v; want the broker's refusal", err)
	} else {
		t.Logf("wrong password refused as expected: %v", err)
	}
	cfg = config(t, b, "client-nocert")
	tlsc := &tls.Config{RootCAs: b.PKI.Pool, MinVersion: tls.VersionTLS12}
	cfg.Brokers[0].TLS = tlsc
	if c, err := connect(t, cfg, 3*time.Second); err == nil {
		_ = c.Close()
		t.Error("connected without a client certificate")
	} else {
		t.Logf("no client certificate refused as expected: %v", err)
	}
}

// The reply-to a RabbitMQ connection hands out maps to its collective's
// reply exchange; CanonicalReplyTo gives strict_reply_to the name back.
func TestReplyToCanonical(t *testing.T) {
	b := rmq.Broker(t)
	c := mustConnect(t, config(t, b, "client-canon"))
	r := c.NewReplyTo("mcollective", "choria=x.mcollective", "0123456789abcdef0123456789abcdef")
	tgt, err := stomp.MapRabbitMQ(connector.Destination{Kind: connector.Reply, ReplyTo: r})
	if err != nil {
		t.Fatal(err)
	}
	if want := "/exchange/mcollective_reply/" + r; tgt.Name != want {
		t.Errorf("reply target %q, want %q", tgt.Name, want)
	}
	if got := c.CanonicalReplyTo(tgt.Name); got != r {
		t.Errorf("CanonicalReplyTo(%q) = %q, want %q", tgt.Name, got, r)
	}
}
