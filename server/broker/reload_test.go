package broker_test

import (
	"crypto/tls"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/tuttifleet/tutti/server/broker"
	"github.com/tuttifleet/tutti/server/broker/brokertest"
)

// TestPerConnectionTLSIsEnforced gives the broker a GetConfigForClient
// source that returns weaker configurations than the broker allows: the
// broker still demands a verified client certificate, and refuses a
// configuration without a CA or with verification turned off.
func TestPerConnectionTLSIsEnforced(t *testing.T) {
	pki := brokertest.NewPKI(t, "ca")
	static := pki.ServerTLS(t, "broker")
	dynamic := func(inner *tls.Config) *tls.Config {
		return &tls.Config{ClientCAs: pki.Pool, RootCAs: pki.Pool,
			GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return inner, nil }}
	}
	noClientCert := &tls.Config{Certificates: static.Certificates, ClientCAs: pki.Pool, ClientAuth: tls.NoClientCert}
	noCA := &tls.Config{Certificates: static.Certificates, ClientAuth: tls.RequireAndVerifyClientCert}
	insecure := &tls.Config{Certificates: static.Certificates, ClientCAs: pki.Pool, InsecureSkipVerify: true}
	anonymous := &tls.Config{RootCAs: pki.Pool, MinVersion: tls.VersionTLS12}

	tests := []struct {
		name      string
		inner     *tls.Config
		client    *tls.Config
		wantAllow bool
	}{
		{"verified client", noClientCert, pki.ClientTLS(t, "node1"), true},
		{"client without certificate", noClientCert, anonymous, false},
		{"no client CAs", noCA, pki.ClientTLS(t, "node1"), false},
		{"InsecureSkipVerify", insecure, pki.ClientTLS(t, "node1"), false},
		{"client from another CA", noClientCert, brokertest.NewPKI(t, "rogue").ClientTLS(t, "node1"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := brokertest.Config(t, pki, "broker")
			cfg.TLS = dynamic(tc.inner)
			b := brokertest.Start(t, cfg)
			c := tc.client.Clone()
			c.RootCAs = pki.Pool
			nc, err := natsgo.Connect(b.ClientURL(), natsgo.Secure(c), natsgo.Timeout(5*time.Second), natsgo.NoReconnect())
			if err == nil {
				nc.Close()
			}
			if tc.wantAllow && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.wantAllow && err == nil {
				t.Fatal("connected")
			}
		})
	}
	// a source that cannot answer at all is not a configuration
	cfg := brokertest.Config(t, pki, "broker")
	cfg.TLS = &tls.Config{GetConfigForClient: dynamic(noClientCert).GetConfigForClient}
	if _, err := broker.New(cfg); err == nil {
		t.Fatal("New accepted a dynamic configuration without ClientCAs or RootCAs for routes")
	}
}
