package nats

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
)

func TestClassifyTLS(t *testing.T) {
	remote := func(alert string) error {
		return &net.OpError{Op: "remote error", Err: errors.New("tls: " + alert)}
	}
	verify := func(err error) error { return &tls.CertificateVerificationError{Err: err} }
	for _, tt := range []struct {
		name string
		err  error
		want Whose // 0: retried
	}{
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, 0},
		{"timeout", fmt.Errorf("nats: timeout"), 0},
		{"reset", &net.OpError{Op: "read", Err: syscall.ECONNRESET}, 0},
		{"other remote alert", remote("internal error"), 0},
		{"unknown CA", verify(x509.UnknownAuthorityError{}), BrokerCertificate},
		{"broker expired", verify(x509.CertificateInvalidError{Reason: x509.Expired}), BrokerCertificate},
		{"wrong host", verify(x509.HostnameError{Host: "b.example"}), BrokerCertificate},
		{"flattened unknown CA", errors.New("tls: failed to verify certificate: x509: certificate signed by unknown authority"), BrokerCertificate},
		{"bad certificate", remote("bad certificate"), OwnCertificate},
		{"expired", remote("expired certificate"), OwnCertificate},
		{"unknown authority", remote("unknown certificate authority"), OwnCertificate},
		{"none", remote("certificate required"), OwnCertificate},
		{"flattened", fmt.Errorf("x: %s", remote("revoked certificate")), OwnCertificate},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ce := classifyTLS(tt.err, "me.mcollective")
			switch {
			case tt.want == 0 && ce != nil:
				t.Fatalf("%v classified as %v, want retried", tt.err, ce)
			case tt.want != 0 && (ce == nil || ce.Whose != tt.want):
				t.Fatalf("%v classified as %+v, want whose=%d", tt.err, ce, tt.want)
			case ce != nil && !errors.Is(ce, tt.err):
				t.Fatalf("%v does not wrap its cause", ce)
			}
		})
	}
}
