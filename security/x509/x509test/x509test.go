// Package x509test makes throwaway certificate authorities for tests, in
// the spirit of net/http/httptest: a CA, certificates issued per name,
// and TLS configurations for servers and clients that trust it.
//
// It is test support: product code never imports it (the deps test in
// internal/deps checks that no binary links it). Broker tests reach it
// through server/broker/brokertest, ActiveMQ tests through
// connector/stomp/amqtest.
package x509test

import (
	"crypto/tls"
	stdx509 "crypto/x509"
	"fmt"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/security/x509"
)

// PKI is a throwaway certificate authority.
type PKI struct {
	CA   *x509.CA
	Pool *stdx509.CertPool // holds CA's certificate alone
}

// New makes a CA named name (ECDSA, valid for a day), for callers that
// have no testing.TB (a broker shared by a test package).
func New(name string) (*PKI, error) {
	ca, err := x509.NewCA(name, x509.KeyECDSA, 24*time.Hour)
	if err != nil {
		return nil, fmt.Errorf("new CA %s: %w", name, err)
	}
	pool := stdx509.NewCertPool()
	pool.AddCert(ca.Cert)
	return &PKI{CA: ca, Pool: pool}, nil
}

// NewPKI is New that fails t on error.
func NewPKI(t testing.TB, name string) *PKI {
	t.Helper()
	p, err := New(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// CertPEM is the CA's certificate, PEM-encoded.
func (p *PKI) CertPEM() []byte { return p.CA.CertPEM }

// IssuePEM issues a certificate for name with extra SANs and returns it
// and its private key, PEM-encoded.
func (p *PKI) IssuePEM(name string, sans ...string) (certPEM, keyPEM []byte, err error) {
	is, err := p.CA.Issue(name, x509.IssueOptions{SANs: sans})
	if err != nil {
		return nil, nil, fmt.Errorf("issue %s: %w", name, err)
	}
	return is.CertPEM, is.KeyPEM, nil
}

// Certificate issues a certificate for name with extra SANs.
func (p *PKI) Certificate(t testing.TB, name string, sans ...string) tls.Certificate {
	t.Helper()
	certPEM, keyPEM, err := p.IssuePEM(name, sans...)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("key pair %s: %v", name, err)
	}
	return c
}

// ServerTLS is a server TLS configuration: a certificate for name valid
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
