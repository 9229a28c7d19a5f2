package nats_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/nats"
	"github.com/tuttifleet/tutti/server/broker/brokertest"
)

// BenchmarkPublishReceive measures the throughput of small directed
// messages from one client to one node through the broker over TLS.
func BenchmarkPublishReceive(b *testing.B) {
	pki := brokertest.NewPKI(b, "bench CA")
	br := brokertest.Start(b, brokertest.Config(b, pki, "broker"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	connect := func(name string) *nats.Conn {
		c, err := nats.Connect(ctx, nats.Config{Servers: []string{br.ClientURL()}, TLS: pki.ClientTLS(b, name), Name: name, Log: brokertest.Logger("nats")})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Close() })
		return c
	}
	node, client := connect("node1"), connect("client1")
	dest := connector.Destination{Kind: connector.Directed, Collective: "mcollective", Identity: "node1"}
	var got atomic.Int64
	done := make(chan struct{})
	var want int64
	if _, err := node.Subscribe(dest, func(connector.Message) {
		if got.Add(1) == atomic.LoadInt64(&want) {
			close(done)
		}
	}); err != nil {
		b.Fatal(err)
	}
	if err := node.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 128)
	atomic.StoreInt64(&want, int64(b.N))
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := client.Publish(ctx, dest, payload); err != nil {
			b.Fatal(err)
		}
	}
	if err := client.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	select {
	case <-done:
	case <-ctx.Done():
		b.Fatalf("received %d of %d messages", got.Load(), b.N)
	}
}
