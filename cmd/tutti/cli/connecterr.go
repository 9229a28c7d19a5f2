package cli

import (
	"errors"
	"fmt"

	"github.com/tuttifleet/tutti/config"
	natsconn "github.com/tuttifleet/tutti/connector/nats"
	"github.com/tuttifleet/tutti/security/x509"
)

// securitySetting names the setting that points at one of the security
// files ("certificate", "key" or "ca") and the file it names.
func securitySetting(sec config.Security, what string) string {
	path := map[string]string{"certificate": sec.CertFile, "key": sec.KeyFile, "ca": sec.CAFile}[what]
	if sec.Provider == "puppet" {
		return fmt.Sprintf("plugin.choria.ssldir (the %s is %s)", what, path)
	}
	if path == "" {
		return "plugin.security.file." + what + " (not set)"
	}
	return fmt.Sprintf("plugin.security.file.%s = %s", what, path)
}

// explainSecurity adds to a security or connection error the settings
// that point at the certificate at fault, when the error says which one
// it is: a key that does not match its certificate, our certificate out
// of its dates or refused by the broker, or the broker's certificate not
// signed by our CA. Other errors are returned as they are.
func explainSecurity(err error, sec config.Security) error {
	var ce *natsconn.CertError
	switch {
	case errors.Is(err, x509.ErrKeyMismatch):
		return fmt.Errorf("%w; check %s and %s", err, securitySetting(sec, "key"), securitySetting(sec, "certificate"))
	case errors.Is(err, x509.ErrNotValidNow):
		return fmt.Errorf("%w; the broker and every node would refuse it: renew the certificate at %s", err, securitySetting(sec, "certificate"))
	case errors.As(err, &ce) && ce.Whose == natsconn.BrokerCertificate:
		return fmt.Errorf("%w; this client trusts the CA at %s", err, securitySetting(sec, "ca"))
	case errors.As(err, &ce):
		return fmt.Errorf("%w; this client's certificate is %s (a certificate the CA revoked is refused too: tutti pki revoked lists them)",
			err, securitySetting(sec, "certificate"))
	}
	return err
}
