package nats

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
)

// Whose certificate a CertError is about.
type Whose int

const (
	// BrokerCertificate: this side does not accept the broker's
	// certificate (not signed by the CA it trusts, expired, or not naming
	// the host dialed). The fix is the CA this side trusts, or the
	// broker's certificate.
	BrokerCertificate Whose = iota + 1
	// OwnCertificate: the broker refused the certificate this side
	// presented (signed by a CA the broker does not trust, expired,
	// revoked, or none presented). The fix is this side's certificate.
	OwnCertificate
)

// CertError is a TLS failure that retrying cannot fix: Connect returns it
// at once instead of trying again. The caller knows which settings point
// at the certificates and can add them to the message.
type CertError struct {
	Whose       Whose
	Certificate string // the name in our certificate (OwnCertificate)
	Err         error
}

func (e *CertError) Error() string {
	if e.Whose == BrokerCertificate {
		return fmt.Sprintf("the broker's certificate is not accepted by this side: %v "+
			"(is the CA file the CA that signed the broker's certificate, and does that certificate name the host dialed?)", e.Err)
	}
	name := e.Certificate
	if name == "" {
		name = "(none)"
	}
	return fmt.Sprintf("the broker refused this side's certificate %s: %v "+
		"(is it signed by the CA the broker trusts, and valid today?)", name, e.Err)
}

func (e *CertError) Unwrap() error { return e.Err }

// remoteCertAlerts are the TLS alerts (as crypto/tls words them) a broker
// sends when it refuses the client's certificate.
var remoteCertAlerts = []string{
	"bad certificate", "unsupported certificate", "revoked certificate", "expired certificate",
	"unknown certificate", "unknown certificate authority", "certificate required",
}

// classifyTLS returns a *CertError when err is a certificate failure
// retrying cannot fix, and nil for anything else (network errors, a
// broker not up yet, timeouts), which Connect retries.
func classifyTLS(err error, certificate string) *CertError {
	if err == nil {
		return nil
	}
	var (
		unknown  x509.UnknownAuthorityError
		invalid  x509.CertificateInvalidError
		hostname x509.HostnameError
	)
	if errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &hostname) {
		return &CertError{Whose: BrokerCertificate, Err: err}
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" && op.Err != nil {
		if isCertAlert(op.Err.Error()) {
			return &CertError{Whose: OwnCertificate, Certificate: certificate, Err: err}
		}
	}
	// nats.go may flatten the handshake error into its text.
	msg := err.Error()
	if i := strings.Index(msg, "remote error: tls: "); i >= 0 && isCertAlert(msg[i+len("remote error: "):]) {
		return &CertError{Whose: OwnCertificate, Certificate: certificate, Err: err}
	}
	if strings.Contains(msg, "x509: certificate signed by unknown authority") ||
		strings.Contains(msg, "x509: certificate has expired or is not yet valid") ||
		strings.Contains(msg, "x509: certificate is valid for") {
		return &CertError{Whose: BrokerCertificate, Err: err}
	}
	return nil
}

// isCertAlert reports whether alert ("tls: bad certificate…") is one of
// remoteCertAlerts.
func isCertAlert(alert string) bool {
	a := strings.TrimPrefix(alert, "tls: ")
	for _, w := range remoteCertAlerts {
		if a == w || strings.HasPrefix(a, w+" ") || strings.HasPrefix(a, w+";") {
			return true
		}
	}
	return false
}
