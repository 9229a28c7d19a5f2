package stomp_test

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/conformance"
	"github.com/tuttifleet/tutti/connector/stomp/amqtest"
	"github.com/tuttifleet/tutti/server/broker/brokertest"
)

// harness runs the conformance suite against the package's ActiveMQ over
// STOMP+SSL with client certificates and the authorization map.
type harness struct {
	b     *amqtest.Broker
	rogue *brokertest.PKI
}

func (h *harness) Connect(t *testing.T, name string) connector.Connector {
	t.Helper()
	return mustConnect(t, config(t, h.b, name))
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
		t.Fatalf("restart ActiveMQ: %v", err)
	}
}

func TestConformance(t *testing.T) {
	b := amq.Broker(t)
	conformance.Run(t, &harness{b: b, rogue: brokertest.NewPKI(t, "rogue CA")})
}
