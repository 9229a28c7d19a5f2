package nats_test

import (
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/conformance"
	"github.com/tuttifleet/tutti/connector/nats"
	"github.com/tuttifleet/tutti/server/broker"
	"github.com/tuttifleet/tutti/server/broker/brokertest"
)

// harness runs the conformance suite against an embedded broker with
// real mutual TLS on a random loopback port.
type harness struct {
	pki, rogue *brokertest.PKI

	mu     sync.Mutex
	cfg    broker.Config
	broker *broker.Broker
	url    string
}

func newHarness(t *testing.T) *harness {
	pki := brokertest.NewPKI(t, "tutti test CA")
	h := &harness{pki: pki, rogue: brokertest.NewPKI(t, "rogue CA")}
	h.cfg = brokertest.Config(t, pki, "broker")
	// The broker authorizes by certificate (server/broker): the suite's
	// names get the roles they act in. client1 publishes requests; alice
	// and bob read replies of up=… callers, as a signer's clients do
	// (privileged); "nodes" carries several node identities on one
	// connection; every other name is a node.
	h.cfg.Authorization = broker.Authorization{
		Clients: []string{`^client1$`}, Privileged: []string{`^(alice|bob)$`}, SharedNodes: []string{`^nodes$`},
	}
	h.broker = brokertest.Start(t, h.cfg)
	h.url = h.broker.ClientURL()
	return h
}

func (h *harness) connect(t *testing.T, name string, cfg nats.Config, timeout time.Duration) (*nats.Conn, error) {
	t.Helper()
	cfg.Servers = []string{h.url}
	cfg.Name = name
	cfg.Log = brokertest.Logger("nats").WithField("test", t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return nats.Connect(ctx, cfg)
}

func (h *harness) Connect(t *testing.T, name string) connector.Connector {
	t.Helper()
	c, err := h.connect(t, name, nats.Config{TLS: h.pki.ClientTLS(t, name)}, 20*time.Second)
	if err != nil {
		t.Fatalf("connect %s: %v", name, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func (h *harness) ConnectUntrusted(t *testing.T) error {
	t.Helper()
	tlsc := h.rogue.ClientTLS(t, "intruder")
	tlsc.RootCAs = h.pki.Pool // trusts the broker; the broker must refuse it
	// Present the rogue certificate even though the broker asks for
	// another CA, so the refusal is the broker's verification at work.
	cert := tlsc.Certificates[0]
	tlsc.Certificates = nil
	tlsc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	c, err := h.connect(t, "intruder", nats.Config{TLS: tlsc}, 2*time.Second)
	if err == nil {
		_ = c.Close()
	}
	return err
}

func (h *harness) RestartBroker(t *testing.T) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.broker.Shutdown()
	_, port, err := net.SplitHostPort(h.url[len("nats://"):])
	if err != nil {
		t.Fatalf("broker url %q: %v", h.url, err)
	}
	cfg := h.cfg
	if cfg.ClientPort, err = strconv.Atoi(port); err != nil {
		t.Fatalf("broker port %q: %v", port, err)
	}
	h.broker = brokertest.Start(t, cfg)
}

func TestConformance(t *testing.T) {
	conformance.Run(t, newHarness(t))
}
