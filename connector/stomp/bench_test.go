package stomp_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/nats"
	"github.com/tuttifleet/tutti/server/broker/brokertest"
)

// brokers returns connect functions for ActiveMQ (STOMP+SSL) and the
// embedded NATS broker (TLS), both on loopback with client certificates.
func brokers(b *testing.B) map[string]func(name string) connector.Connector {
	amqb := amq.Broker(b)
	pki := brokertest.NewPKI(b, "bench CA")
	nb := brokertest.Start(b, brokertest.Config(b, pki, "broker"))
	return map[string]func(string) connector.Connector{
		"activemq": func(name string) connector.Connector { return mustConnect(b, config(b, amqb, name)) },
		"nats": func(name string) connector.Connector {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, err := nats.Connect(ctx, nats.Config{Servers: []string{nb.ClientURL()}, TLS: pki.ClientTLS(b, name), Name: name, Log: brokertest.Logger("nats")})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = c.Close() })
			return c
		},
	}
}

// replier makes node answer every directed request with "pong" on the
// request's reply-to (the request payload is the reply-to name).
func replier(b *testing.B, node connector.Connector, coll, identity string) {
	dest := connector.Destination{Kind: connector.Directed, Collective: coll, Identity: identity}
	ctx := context.Background()
	if _, err := node.Subscribe(dest, func(m connector.Message) {
		_ = node.Publish(ctx, connector.Destination{Kind: connector.Reply, ReplyTo: string(m.Data)}, []byte("pong"))
	}); err != nil {
		b.Fatal(err)
	}
	if err := node.Flush(ctx); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRoundTrip is one request to one node and its reply, the way a
// client does an rpc: a fresh reply inbox per request (subscribe, flush,
// publish, wait, unsubscribe).
func BenchmarkRoundTrip(b *testing.B) {
	for name, connect := range brokers(b) {
		b.Run(name, func(b *testing.B) {
			coll := "bench_" + name
			node, client := connect("node1"), connect("client1")
			replier(b, node, coll, "node1")
			req := connector.Destination{Kind: connector.Directed, Collective: coll, Identity: "node1"}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			got := make(chan struct{}, 1)
			b.ResetTimer()
			for i := range b.N {
				replyTo := client.NewReplyTo(coll, "choria=bench", fmt.Sprintf("%032x", i))
				sub, err := client.Subscribe(connector.Destination{Kind: connector.Reply, ReplyTo: replyTo}, func(connector.Message) { got <- struct{}{} })
				if err != nil {
					b.Fatal(err)
				}
				if err := client.Flush(ctx); err != nil {
					b.Fatal(err)
				}
				if err := client.Publish(ctx, req, []byte(replyTo)); err != nil {
					b.Fatal(err)
				}
				select {
				case <-got:
				case <-ctx.Done():
					b.Fatalf("no reply to request %d", i)
				}
				_ = sub.Unsubscribe()
			}
		})
	}
}

// BenchmarkFanOut100 is one broadcast request to 100 nodes (10
// connections with 10 node subscriptions each) and the wait for all 100
// replies on one reply inbox.
func BenchmarkFanOut100(b *testing.B) {
	const conns, perConn = 10, 10
	for name, connect := range brokers(b) {
		b.Run(name, func(b *testing.B) {
			coll := "fan_" + name
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			dest := connector.Destination{Kind: connector.Broadcast, Collective: coll, Agent: "rpcutil"}
			for i := range conns {
				node := connect(fmt.Sprintf("node%02d", i))
				for range perConn {
					if _, err := node.Subscribe(dest, func(m connector.Message) {
						_ = node.Publish(ctx, connector.Destination{Kind: connector.Reply, ReplyTo: string(m.Data)}, []byte("pong"))
					}); err != nil {
						b.Fatal(err)
					}
				}
				if err := node.Flush(ctx); err != nil {
					b.Fatal(err)
				}
			}
			client := connect("client1")
			replies := make(chan struct{}, conns*perConn)
			b.ResetTimer()
			for i := range b.N {
				replyTo := client.NewReplyTo(coll, "choria=bench", fmt.Sprintf("%032x", i))
				sub, err := client.Subscribe(connector.Destination{Kind: connector.Reply, ReplyTo: replyTo}, func(connector.Message) { replies <- struct{}{} })
				if err != nil {
					b.Fatal(err)
				}
				if err := client.Flush(ctx); err != nil {
					b.Fatal(err)
				}
				if err := client.Publish(ctx, dest, []byte(replyTo)); err != nil {
					b.Fatal(err)
				}
				for n := range conns * perConn {
					select {
					case <-replies:
					case <-ctx.Done():
						b.Fatalf("request %d: %d of %d replies", i, n, conns*perConn)
					}
				}
				_ = sub.Unsubscribe()
			}
		})
	}
}
