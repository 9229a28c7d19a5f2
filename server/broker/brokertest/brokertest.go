// Package brokertest starts embedded brokers with real mutual TLS for
// tests, in the spirit of net/http/httptest: a throwaway CA, certificates
// issued per name, and a broker on a random loopback port that is shut
// down when the test ends.
package brokertest

import (
	"context"
	"io"
	"os"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/security/x509/x509test"
	"github.com/tuttifleet/tutti/server/broker"
)

// PKI is a throwaway certificate authority: x509test's, named here so
// that a broker test needs one import for its broker and its CA.
type PKI = x509test.PKI

// NewPKI makes a CA named name (ECDSA, valid for a day).
func NewPKI(t testing.TB, name string) *PKI { return x509test.NewPKI(t, name) }

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
