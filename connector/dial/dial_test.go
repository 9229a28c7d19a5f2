package dial

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/security/x509"
)

func TestConnectSTOMPRefusals(t *testing.T) {
	ca, err := x509.NewCA("test CA", x509.KeyECDSA, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	is, err := ca.Issue("node1.example.net", x509.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := x509.NewFromPEM(is.CertPEM, is.KeyPEM, ca.CertPEM, x509.Config{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	member := config.STOMPBroker{Host: "127.0.0.1", Port: 1, SSL: true}
	with := func(f func(*config.STOMPBroker)) []config.STOMPBroker {
		m := member
		f(&m)
		return []config.STOMPBroker{m}
	}
	tests := []struct {
		name   string
		common config.Common
		reason string
	}{
		{"no pool", config.Common{Connector: "activemq"}, "pool.size is 0"},
		{"plain STOMP", config.Common{Connector: "activemq", ActiveMQ: config.ActiveMQ{Pool: with(func(m *config.STOMPBroker) { m.SSL = false })}},
			"plugin.activemq.pool.1.ssl is off"},
		{"cert without key", config.Common{Connector: "activemq", ActiveMQ: config.ActiveMQ{Pool: with(func(m *config.STOMPBroker) { m.SSLCert = "c.pem" })}},
			"ssl.cert and ssl.key must be set together"},
		{"CA file without certificates", config.Common{Connector: "stomp", ActiveMQ: config.ActiveMQ{Pool: with(func(m *config.STOMPBroker) { m.SSLCA = notPEM })}},
			"no PEM certificates"},
		{"rabbitmq without a pool", config.Common{Connector: "rabbitmq"}, "connector rabbitmq: plugin.rabbitmq.pool.size is 0"},
		{"plain STOMP to RabbitMQ", config.Common{Connector: "rabbitmq", ActiveMQ: config.ActiveMQ{Pool: with(func(m *config.STOMPBroker) { m.SSL = false })}},
			"plugin.rabbitmq.pool.1.ssl is off"},
		{"unknown connector", config.Common{Connector: "zeromq"}, `connector "zeromq" is not available in this build; use nats or activemq or rabbitmq`},
	}
	log := quietLog()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			c, err := Open(ctx, ConfigFrom(&tc.common), p, log)
			if err == nil {
				_ = c.Close()
				t.Fatal("connected, want a refusal")
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q does not say %q", err, tc.reason)
			}
		})
	}
}

// A configured pool member is tried (and named) when nothing listens.
func TestConnectSTOMPNamesBroker(t *testing.T) {
	ca, _ := x509.NewCA("test CA", x509.KeyECDSA, time.Hour)
	is, _ := ca.Issue("node1.example.net", x509.IssueOptions{})
	p, err := x509.NewFromPEM(is.CertPEM, is.KeyPEM, ca.CertPEM, x509.Config{})
	if err != nil {
		t.Fatal(err)
	}
	c := config.Common{Connector: "activemq", ActiveMQ: config.ActiveMQ{
		Pool:                  []config.STOMPBroker{{Host: "127.0.0.1", Port: 1, SSL: true}},
		InitialReconnectDelay: 10 * time.Millisecond, MaxReconnectDelay: 50 * time.Millisecond, BackOffMultiplier: 2,
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = Open(ctx, ConfigFrom(&c), p, quietLog())
	if err == nil || !strings.Contains(err.Error(), "stomp+ssl://127.0.0.1:1") {
		t.Fatalf("error %v does not name the broker", err)
	}
}

func quietLog() *logrus.Entry {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return logrus.NewEntry(l)
}

// The NATS branch: the default broker when none is configured, the
// login token, the identity's certificate and the connection's name.
func TestNATSConfig(t *testing.T) {
	ca, _ := x509.NewCA("test CA", x509.KeyECDSA, time.Hour)
	is, _ := ca.Issue("client1.example.net", x509.IssueOptions{})
	p, err := x509.NewFromPEM(is.CertPEM, is.KeyPEM, ca.CertPEM, x509.Config{})
	if err != nil {
		t.Fatal(err)
	}
	c := ConfigFrom(&config.Common{Identity: "client1", NATS: config.NATS{User: "u", Pass: "pw"}}).WithToken("tok")
	nc, err := natsConfig(c, p, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	if len(nc.Servers) != 1 || nc.Servers[0] != DefaultNATSHost || nc.Token != "tok" || nc.Name != "client1" ||
		nc.User != "u" || nc.Password != "pw" || nc.Certificate != p.Name() || nc.TLS == nil {
		t.Fatalf("NATS config = %+v", nc)
	}
	c.NATS.Hosts = []string{"tls://b1:4222", "nats://b2:4222"}
	if nc, _ = natsConfig(c, p, quietLog()); len(nc.Servers) != 2 || nc.Servers[0] != "tls://b1:4222" {
		t.Fatalf("configured hosts = %v", nc.Servers)
	}
}
