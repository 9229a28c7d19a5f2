package broker_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/tuttifleet/tutti/connector/nats"
	"github.com/tuttifleet/tutti/server/broker"
	"github.com/tuttifleet/tutti/server/broker/brokertest"
)

func TestNewRefusals(t *testing.T) {
	pki := brokertest.NewPKI(t, "ca")
	good := pki.ServerTLS(t, "broker")
	with := func(f func(*broker.Config)) broker.Config {
		cfg := brokertest.Config(t, pki, "broker")
		f(&cfg)
		return cfg
	}
	insecure := good.Clone()
	insecure.InsecureSkipVerify = true
	noCA := good.Clone()
	noCA.ClientCAs, noCA.RootCAs = nil, nil
	noCert := good.Clone()
	noCert.Certificates = nil
	tests := []struct {
		name   string
		cfg    broker.Config
		reason string
	}{
		{"no logger", with(func(c *broker.Config) { c.Log = nil }), "logger"},
		{"no TLS", with(func(c *broker.Config) { c.TLS = nil }), "TLS is required"},
		{"insecure TLS", with(func(c *broker.Config) { c.TLS = insecure }), "InsecureSkipVerify"},
		{"no client CAs", with(func(c *broker.Config) { c.TLS = noCA }), "no ClientCAs"},
		{"no certificate", with(func(c *broker.Config) { c.TLS = noCert }), "no server certificate"},
		{"negative max payload", with(func(c *broker.Config) { c.MaxPayload = -1 }), "negative"},
		{"peers without peer port", with(func(c *broker.Config) { c.Peers = []string{"nats://a:4223"} }), "PeerPort is 0"},
		{"peer without port", with(func(c *broker.Config) { c.PeerPort = -1; c.Peers = []string{"nats://a"} }), "want nats://host:port"},
		{"peer bad scheme", with(func(c *broker.Config) { c.PeerPort = -1; c.Peers = []string{"http://a:1"} }), "unsupported scheme"},
		{"clustered JetStream without a name", with(func(c *broker.Config) { c.PeerPort = -1; c.JetStreamDir = "/nonexistent"; c.ServerName = "" }), "ServerName unique"},
		{"insecure cluster TLS", with(func(c *broker.Config) {
			c.PeerPort = -1
			c.ClusterTLS = insecure
			c.LinkCertificates = []string{"^broker$"}
		}), "ClusterTLS.InsecureSkipVerify"},
		{"cluster without link certificates", with(func(c *broker.Config) { c.PeerPort = -1 }), "needs LinkCertificates"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := broker.New(tc.cfg)
			if !errors.Is(err, broker.ErrConfig) {
				t.Fatalf("New = %v, want ErrConfig", err)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q does not say %q", err, tc.reason)
			}
		})
	}
}

func connect(t *testing.T, url string, tlsc *tls.Config) (*nats.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := nats.Connect(ctx, nats.Config{Servers: []string{url}, TLS: tlsc, Log: brokertest.Logger("nats")})
	if err == nil {
		t.Cleanup(func() { _ = c.Close() })
	}
	return c, err
}

func TestStartClientsShutdown(t *testing.T) {
	pki := brokertest.NewPKI(t, "ca")
	cfg := brokertest.Config(t, pki, "broker")
	log, hook := logtest.NewNullLogger()
	cfg.Log = log.WithField("component", "broker")
	b := brokertest.Start(t, cfg)
	if !regexp.MustCompile(`^nats://127\.0\.0\.1:\d+$`).MatchString(b.ClientURL()) {
		t.Fatalf("ClientURL = %q", b.ClientURL())
	}
	if b.ClusterURL() != "" || b.MonitorURL() != "" {
		t.Errorf("cluster %q / monitor %q URLs without cluster or monitoring", b.ClusterURL(), b.MonitorURL())
	}
	if _, err := connect(t, b.ClientURL(), pki.ClientTLS(t, "n1")); err != nil {
		t.Fatal(err)
	}
	brokertest.Eventually(t, 5*time.Second, func() error {
		if n := b.NumClients(); n != 1 {
			return errors.New("clients: " + strconv.Itoa(n))
		}
		return nil
	})
	var routed bool
	for _, e := range hook.AllEntries() {
		routed = routed || e.Data["source"] == "nats-server" && strings.Contains(e.Message, "Server is ready")
	}
	if !routed {
		t.Error("nats-server's log lines did not reach the logger")
	}
	addr := strings.TrimPrefix(b.ClientURL(), "nats://")
	b.Shutdown()
	b.Shutdown()
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		_ = c.Close()
		t.Errorf("broker still accepts TCP connections on %s after Shutdown", addr)
	}
}

func TestClientsMustPresentTrustedCertificates(t *testing.T) {
	pki, rogue := brokertest.NewPKI(t, "ca"), brokertest.NewPKI(t, "rogue")
	cfg := brokertest.Config(t, pki, "broker")
	cfg.TLS.ClientAuth = tls.NoClientCert // the broker must not honour this
	log, hook := logtest.NewNullLogger()
	cfg.Log = log.WithField("component", "broker")
	b := brokertest.Start(t, cfg)

	t.Run("plain", func(t *testing.T) {
		nc, err := natsgo.Connect(b.ClientURL(), natsgo.Timeout(2*time.Second))
		if err == nil {
			nc.Close()
			t.Fatal("plain-text client connected")
		}
	})
	t.Run("TLS without certificate", func(t *testing.T) {
		tlsc := &tls.Config{RootCAs: pki.Pool, MinVersion: tls.VersionTLS12}
		nc, err := natsgo.Connect(b.ClientURL(), natsgo.Secure(tlsc), natsgo.Timeout(2*time.Second))
		if err == nil {
			nc.Close()
			t.Fatal("client without a certificate connected")
		}
	})
	t.Run("certificate from another CA", func(t *testing.T) {
		cert := rogue.Certificate(t, "intruder")
		tlsc := &tls.Config{
			RootCAs:              pki.Pool,
			MinVersion:           tls.VersionTLS12,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil },
		}
		nc, err := natsgo.Connect(b.ClientURL(), natsgo.Secure(tlsc), natsgo.Timeout(2*time.Second))
		if err == nil {
			nc.Close()
			t.Fatal("client with an untrusted certificate connected")
		}
		// The client may see the alert or just a closed socket; the
		// broker's log says why.
		brokertest.Eventually(t, 5*time.Second, func() error {
			for _, e := range hook.AllEntries() {
				if strings.Contains(e.Message, "TLS handshake error") && strings.Contains(e.Message, "unknown authority") {
					return nil
				}
			}
			return errors.New("broker logged no certificate verification failure")
		})
	})
	t.Run("trusted", func(t *testing.T) {
		if _, err := connect(t, b.ClientURL(), pki.ClientTLS(t, "n1")); err != nil {
			t.Fatal(err)
		}
	})
}

func TestStartFailsOnPortInUse(t *testing.T) {
	pki := brokertest.NewPKI(t, "ca")
	first := brokertest.Start(t, brokertest.Config(t, pki, "first"))
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(first.ClientURL(), "nats://"))
	cfg := brokertest.Config(t, pki, "second")
	cfg.ClientPort, _ = strconv.Atoi(port)
	b, err := broker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	err = b.Start(ctx)
	if err == nil {
		t.Fatal("second broker started on a port in use")
	}
	if errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("Start waited for its context instead of reporting the listen failure: %v", err)
	}
	if !strings.Contains(err.Error(), port) {
		t.Errorf("error %q does not name the port", err)
	}
}

func TestMonitoringAndJetStream(t *testing.T) {
	pki := brokertest.NewPKI(t, "ca")
	cfg := brokertest.Config(t, pki, "mon")
	cfg.MonitorPort = -1
	cfg.JetStreamDir = t.TempDir()
	b := brokertest.Start(t, cfg)
	if !b.Server().JetStreamEnabled() {
		t.Error("JetStream is off with JetStreamDir set")
	}
	resp, err := http.Get(b.MonitorURL() + "/varz")
	if err != nil {
		t.Fatalf("GET /varz: %v", err)
	}
	defer resp.Body.Close()
	var varz struct {
		ServerName string `json:"server_name"`
		MaxPayload int    `json:"max_payload"`
		TLSVerify  bool   `json:"tls_verify"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&varz); err != nil {
		t.Fatalf("decode /varz: %v", err)
	}
	if varz.ServerName != "mon" || varz.MaxPayload != int(broker.DefaultMaxPayload) || !varz.TLSVerify {
		t.Errorf("/varz = %+v, want server mon, max payload 4 MiB, tls_verify", varz)
	}
}
