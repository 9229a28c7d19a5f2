// Package brokertest starts embedded brokers with real mutual TLS for
// tests, in the spirit of net/http/httptest: a throwaway CA, certificates
// issued per name, and a broker on a random loopback port that is shut
// down when the test ends.
package brokertest

import (
	"context"
	"crypto/tls"
	stdx509 "crypto/x509"
	"io"
	"os"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server/broker"
)

// PKI is a throwaway certificate authority.
type PKI struct {
	CA   *x509.CA
	Pool *stdx509.CertPool
}

// NewPKI makes a CA named name (ECDSA, valid for a day).
func NewPKI(t testing.TB, name string) *PKI {
	t.Helper()
	ca, err := x509.NewCA(name, x509.KeyECDSA, 24*time.Hour)
	if err != nil {
		t.Fatalf("new CA %s: %v", name, err)
	}
	pool := stdx509.NewCertPool()
	pool.AddCert(ca.Cert)
	return &PKI{CA: ca, Pool: pool}
}

// Certificate issues a certificate for name with extra SANs.
func (p *PKI) Certificate(t testing.TB, name string, sans ...string) tls.Certificate {
	t.Helper()
	is, err := p.CA.Issue(name, x509.IssueOptions{SANs: sans})
	if err != nil {
		t.Fatalf("issue %s: %v", name, err)
	}
	c, err := tls.X509KeyPair(is.CertPEM, is.KeyPEM)
	if err != nil {
		t.Fatalf("key pair %s: %v", name, err)
	}
	return c
}

// ServerTLS is a broker TLS configuration: a certificate for name valid
// for 127.0.0.1 and localhost, trusting this CA for clients and peers.
func (p *PKI) ServerTLS(t testing.TB, name string) *tls.Config {
	t.Helper()
	return &tls.Config{
		Certificates: []tls.Certificate{p.Certificate(t, name, "127.0.0.1", "localhost")},
		ClientCAs:    p.Pool,
		RootCAs:      p.Pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}
}

// ClientTLS is a client TLS configuration presenting a certificate for
// name and trusting this CA.
func (p *PKI) ClientTLS(t testing.TB, name string) *tls.Config {
	t.Helper()
	return &tls.Config{
		Certificates: []tls.Certificate{p.Certificate(t, name)},
		RootCAs:      p.Pool,
		MinVersion:   tls.VersionTLS12,
	}
}

// Logger is a logger for tests: silent unless TUTTI_TEST_LOG is set, in
// which case it writes to stderr at the level it names (e.g. "debug").
func Logger(component string) *logrus.Entry {
	l := logrus.New()
	l.SetOutput(io.Discard)
	if lv := os.Getenv("TUTTI_TEST_LOG"); lv != "" {
		l.SetOutput(os.Stderr)
		if level, err := logrus.ParseLevel(lv); err == nil {
			l.SetLevel(level)
		}
	}
	return l.WithField("component", component)
}

// Config is a broker configuration for tests: 127.0.0.1, random client
// port, server TLS from pki.
func Config(t testing.TB, pki *PKI, name string) broker.Config {
	t.Helper()
	return broker.Config{
		ListenAddress: "127.0.0.1",
		ClientPort:    -1,
		TLS:           pki.ServerTLS(t, name),
		ServerName:    name,
		Log:           Logger("broker").WithField("broker", name),
	}
}

// Start creates and starts a broker from cfg and shuts it down when the
// test ends.
func Start(t testing.TB, cfg broker.Config) *broker.Broker {
	t.Helper()
	b, err := broker.New(cfg)
	if err != nil {
		t.Fatalf("new broker: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(b.Shutdown)
	return b
}

// Eventually calls f until it returns nil or timeout passes, then fails
// the test with f's last error.
func Eventually(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := 5 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", timeout, err)
		}
		time.Sleep(wait)
		if wait < 100*time.Millisecond {
			wait *= 2
		}
	}
}
