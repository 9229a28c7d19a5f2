// The STOMP connector with RabbitMQ naming against a real RabbitMQ: the
// conformance suite every connector passes, over STOMP+SSL with client
// certificates and per-role logins, plus what is particular to RabbitMQ
// (exchanges an administrator declares, permissions).
package rabbittest_test

import (
	"context"
	"crypto/tls"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/conformance"
	"github.com/tuttifleet/tutti/connector/stomp"
	"github.com/tuttifleet/tutti/connector/stomp/rabbittest"
	"github.com/tuttifleet/tutti/server/broker/brokertest"
)

// rmq is this package's RabbitMQ, started by the first test that needs it.
var rmq rabbittest.Shared

func TestMain(m *testing.M) { os.Exit(rmq.Main(m)) }

// role is the broker login for a connection name: the conformance suite
// names clients client*, alice and bob; everything else is a node.
func role(b *rabbittest.Broker, name string) (user, password string) {
	for _, p := range []string{"client", "alice", "bob"} {
		if strings.HasPrefix(name, p) {
			return rabbittest.ClientUser, b.ClientPassword
		}
	}
	return rabbittest.NodeUser, b.NodePassword
}

func config(t testing.TB, b *rabbittest.Broker, name string) stomp.Config {
	user, pass := role(b, name)
	return stomp.Config{
		Brokers: []stomp.Broker{{
			Host: b.Host, Port: b.SSLPort, User: user, Password: pass,
			TLS: b.PKI.ClientTLS(t, name),
		}},
		Naming:            stomp.RabbitMQ,
		VHost:             rabbittest.VHost,
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
	c, err := connect(t, cfg, 30*time.Second)
	if err != nil {
		t.Fatalf("connect %s: %v", cfg.Name, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// declaring is a connection that has the broker's administrator declare
// the exchanges of every collective it is about to use, as a site does
// once per collective: the suite makes a collective per test.
type declaring struct {
	connector.Connector
	b *rabbittest.Broker
}

func (d declaring) declare(dest connector.Destination) error {
	coll := dest.Collective
	if dest.Kind == connector.Reply {
		coll, _, _ = strings.Cut(strings.TrimPrefix(dest.ReplyTo, "/exchange/"), ".")
	}
	if dest.CheckNames() != nil || !collectiveOK(coll) {
		return nil // the connector refuses it; nothing to declare
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return d.b.DeclareCollective(ctx, coll)
}

func collectiveOK(c string) bool {
	return (connector.Destination{Kind: connector.Broadcast, Collective: c, Agent: "x"}).CheckNames() == nil
}

func (d declaring) Publish(ctx context.Context, dest connector.Destination, data []byte) error {
	if err := d.declare(dest); err != nil {
		return err
	}
	return d.Connector.Publish(ctx, dest, data)
}

func (d declaring) Subscribe(dest connector.Destination, h connector.Handler) (connector.Subscription, error) {
	if err := d.declare(dest); err != nil {
		return nil, err
	}
	return d.Connector.Subscribe(dest, h)
}

type harness struct {
	b     *rabbittest.Broker
	rogue *brokertest.PKI
}

func (h *harness) Connect(t *testing.T, name string) connector.Connector {
	t.Helper()
	return declaring{Connector: mustConnect(t, config(t, h.b, name)), b: h.b}
}

func (h *harness) ConnectUntrusted(t *testing.T) error {
	t.Helper()
	cfg := config(t, h.b, "client-intruder")
	tlsc := h.rogue.ClientTLS(t, "intruder")
	tlsc.RootCAs = h.b.PKI.Pool // trusts the broker; the broker must refuse it
	cert := tlsc.Certificates[0]
	tlsc.Certificates = nil
	tlsc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	cfg.Brokers[0].TLS = tlsc
	c, err := connect(t, cfg, 3*time.Second)
	if err == nil {
		_ = c.Close()
	}
	return err
}

func (h *harness) RestartBroker(t *testing.T) {
	t.Helper()
	if err := h.b.Restart(); err != nil {
		t.Fatalf("restart RabbitMQ: %v", err)
	}
}

func TestConformance(t *testing.T) {
	b := rmq.Broker(t)
	conformance.Run(t, &harness{b: b, rogue: brokertest.NewPKI(t, "rogue CA")})
}
