package x509test_test

import (
	"crypto/tls"
	"io"
	"net"
	"testing"

	"github.com/tuttifleet/tutti/security/x509/x509test"
)

// A client of the PKI completes a mutual-TLS handshake with a server of
// the same PKI, and one from another CA is refused.
func TestMutualTLS(t *testing.T) {
	pki, rogue := x509test.NewPKI(t, "ca"), x509test.NewPKI(t, "rogue")
	ln, err := tls.Listen("tcp", "127.0.0.1:0", pki.ServerTLS(t, "server"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			_, _ = c.Write([]byte("ok"))
			_ = c.Close()
		}
	}()
	for _, tc := range []struct {
		name   string
		cfg    *tls.Config
		wantOK bool
	}{
		{"same CA", pki.ClientTLS(t, "client"), true},
		{"other CA", rogue.ClientTLS(t, "client"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg.Clone()
			cfg.RootCAs = pki.Pool
			cfg.ServerName = "127.0.0.1"
			c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
			if err == nil {
				var b []byte
				b, err = io.ReadAll(c)
				_ = c.Close()
				if err == nil && string(b) != "ok" {
					err = net.ErrClosed
				}
			}
			if (err == nil) != tc.wantOK {
				t.Fatalf("err = %v, want ok=%v", err, tc.wantOK)
			}
		})
	}
}

func TestIssuePEM(t *testing.T) {
	pki := x509test.NewPKI(t, "ca")
	certPEM, keyPEM, err := pki.IssuePEM("node1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Leaf.VerifyHostname("localhost"); err != nil {
		t.Fatal(err)
	}
	if len(pki.CertPEM()) == 0 {
		t.Fatal("no CA certificate")
	}
}
