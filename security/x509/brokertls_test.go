package x509

import (
	"crypto/tls"
	stdx509 "crypto/x509"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// brokerFiles is one broker's certificate files in their own directory,
// trusting ca, with a CRL file (empty CRL at first).
type brokerFiles struct {
	dir string
	cfg Config
}

func newBrokerFiles(t *testing.T, ca *CA, name string) *brokerFiles {
	t.Helper()
	b := &brokerFiles{dir: t.TempDir()}
	b.cfg = Config{CAFile: filepath.Join(b.dir, "ca.pem"), CRLFile: writeCRL(t, b.dir, ca)}
	if err := os.WriteFile(b.cfg.CAFile, ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	b.issue(t, ca, name)
	return b
}

// issue writes a new certificate and key for name over the old ones.
func (b *brokerFiles) issue(t *testing.T, ca *CA, name string) *Issued {
	t.Helper()
	is := mustIssue(t, ca, name, IssueOptions{SANs: []string{"127.0.0.1"}})
	var err error
	if b.cfg.CertFile, b.cfg.KeyFile, err = is.WriteFiles(b.dir); err != nil {
		t.Fatal(err)
	}
	return is
}

// tlsPair runs one handshake between a server and a client configuration
// over loopback and returns the certificate the server presented, or the
// client's or server's error.
func tlsPair(t *testing.T, scfg, ccfg *tls.Config) (*stdx509.Certificate, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srvErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			srvErr <- err
			return
		}
		defer c.Close()
		tc := tls.Server(c, scfg)
		err = tc.Handshake()
		if err == nil {
			_, err = tc.Write([]byte("ok"))
		}
		srvErr <- err
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := tls.Client(raw, ccfg)
	defer c.Close()
	err = c.Handshake()
	var leaf *stdx509.Certificate
	if err == nil {
		leaf = c.ConnectionState().PeerCertificates[0]
		// TLS 1.3 reports a refused client certificate on first read.
		_, err = io.ReadFull(c, make([]byte, 2))
	}
	if sErr := <-srvErr; err == nil {
		err = sErr
	}
	return leaf, err
}

func TestBrokerTLSRotatesCertificateAndCRL(t *testing.T) {
	ca := mustCA(t, "test CA", KeyECDSA)
	files := newBrokerFiles(t, ca, "broker.example.net")
	broker, err := New(files.cfg)
	if err != nil {
		t.Fatal(err)
	}
	scfg, err := broker.BrokerTLS()
	if err != nil {
		t.Fatal(err)
	}
	clientFiles := newBrokerFiles(t, ca, "node1.example.net")
	client, err := New(clientFiles.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ccfg, err := client.ClientTLS("broker.example.net")
	if err != nil {
		t.Fatal(err)
	}
	first, err := tlsPair(t, scfg, ccfg)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}

	// a new certificate on disk is presented after Reload, by the same
	// tls.Config
	second := files.issue(t, ca, "broker.example.net")
	if got, err := tlsPair(t, scfg, ccfg); err != nil || got.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Fatalf("before Reload: %v, serial %v, want the first certificate", err, got)
	}
	if err := broker.Reload(); err != nil {
		t.Fatal(err)
	}
	if got, err := tlsPair(t, scfg, ccfg); err != nil || got.SerialNumber.Cmp(second.Cert.SerialNumber) != 0 {
		t.Fatalf("after Reload: %v, want the second certificate", err)
	}

	// a key that does not belong to the certificate is refused and the
	// second certificate stays
	other := mustIssue(t, ca, "broker.example.net", IssueOptions{})
	if err := os.WriteFile(files.cfg.KeyFile, other.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := broker.Reload(); err == nil || !strings.Contains(err.Error(), "private key does not belong") {
		t.Fatalf("Reload with a foreign key: %v", err)
	}
	if got, err := tlsPair(t, scfg, ccfg); err != nil || got.SerialNumber.Cmp(second.Cert.SerialNumber) != 0 {
		t.Fatalf("after a refused Reload: %v, want the second certificate", err)
	}

	// a client certificate listed in the new CRL is refused
	clientCert, err := ParseCertificatesPEM(client.CertificatePEM())
	if err != nil {
		t.Fatal(err)
	}
	writeCRL(t, files.dir, ca, clientCert[0])
	if err := os.WriteFile(files.cfg.KeyFile, second.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := broker.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := tlsPair(t, scfg, ccfg); err == nil {
		t.Fatal("a revoked client certificate was accepted")
	}
}

// TestBrokerTLSRoutes runs both roles of a route: broker b dials broker a
// with its own BrokerTLS configuration, as nats-server does.
func TestBrokerTLSRoutes(t *testing.T) {
	ca := mustCA(t, "test CA", KeyECDSA)
	aFiles, bFiles := newBrokerFiles(t, ca, "a.example.net"), newBrokerFiles(t, ca, "b.example.net")
	a, err := New(aFiles.cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(bFiles.cfg)
	if err != nil {
		t.Fatal(err)
	}
	acfg, err := a.BrokerTLS()
	if err != nil {
		t.Fatal(err)
	}
	bcfg, err := b.BrokerTLS()
	if err != nil {
		t.Fatal(err)
	}
	dial := func() (*stdx509.Certificate, error) {
		c := bcfg.Clone()
		c.ServerName = "a.example.net"
		return tlsPair(t, acfg, c)
	}
	if _, err := dial(); err != nil {
		t.Fatalf("route handshake: %v", err)
	}

	// b presents its rotated certificate as a client too: a accepts it
	bFiles.issue(t, ca, "b.example.net")
	if err := b.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := dial(); err != nil {
		t.Fatalf("route handshake after b's rotation: %v", err)
	}

	// b's new CRL revokes a's certificate: b refuses the server it dialed
	aCert, err := ParseCertificatesPEM(a.CertificatePEM())
	if err != nil {
		t.Fatal(err)
	}
	writeCRL(t, bFiles.dir, ca, aCert[0])
	if err := b.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := dial(); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("dialing a revoked peer: %v", err)
	}

	// a peer from another CA is refused by the server side
	rogue := mustCA(t, "rogue CA", KeyECDSA)
	rFiles := newBrokerFiles(t, rogue, "b.example.net")
	r, err := New(rFiles.cfg)
	if err != nil {
		t.Fatal(err)
	}
	rcfg, err := r.BrokerTLS()
	if err != nil {
		t.Fatal(err)
	}
	rcfg.RootCAs = a.CAPool() // it trusts a, but a does not trust it
	rcfg.VerifyConnection = nil
	rcfg.ServerName = "a.example.net"
	if _, err := tlsPair(t, acfg, rcfg); err == nil {
		t.Fatal("a accepted a peer certificate from another CA")
	}
}

func TestBrokerTLSNeedsCertificate(t *testing.T) {
	p := verifier(t, mustCA(t, "test CA", KeyECDSA), Config{})
	if _, err := p.BrokerTLS(); err == nil {
		t.Fatal("BrokerTLS without a certificate succeeded")
	}
}
