package stomp_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/connector/stomp"
	"github.com/tuttifleet/tutti/connector/stomp/amqtest"
	"github.com/tuttifleet/tutti/server/broker/brokertest"
)

// amq is this package's ActiveMQ, started by the first test that needs it.
var amq amqtest.Shared

func TestMain(m *testing.M) { os.Exit(amq.Main(m)) }

// role is the broker login for a connection name: the conformance suite
// names clients client*, alice and bob; everything else is a node.
func role(b *amqtest.Broker, name string) (user, password string) {
	for _, p := range []string{"client", "alice", "bob"} {
		if strings.HasPrefix(name, p) {
			return amqtest.ClientUser, b.ClientPassword
		}
	}
	return amqtest.NodeUser, b.NodePassword
}

// config is a connection to b as name with the role's login and a
// certificate from b's CA.
func config(t testing.TB, b *amqtest.Broker, name string) stomp.Config {
	user, pass := role(b, name)
	return stomp.Config{
		Brokers: []stomp.Broker{{
			Host: b.Host, Port: b.SSLPort, User: user, Password: pass,
			TLS: b.PKI.ClientTLS(t, name),
		}},
		Name:              name,
		Log:               brokertest.Logger("stomp").WithField("test", t.Name()),
		MaxReconnectDelay: 500 * time.Millisecond,
	}
}

func connect(t testing.TB, cfg stomp.Config, timeout time.Duration) (*stomp.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return stomp.Connect(ctx, cfg)
}

func mustConnect(t testing.TB, cfg stomp.Config) *stomp.Conn {
	t.Helper()
	c, err := connect(t, cfg, 20*time.Second)
	if err != nil {
		t.Fatalf("connect %s: %v", cfg.Name, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
