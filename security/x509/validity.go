package x509

import (
	"errors"
	"fmt"
	"time"
)

// Errors about the provider's own certificate, for errors.Is: neither is
// fixed by retrying, so callers report them instead of connecting.
var (
	// ErrKeyMismatch: the private key does not belong to the certificate.
	ErrKeyMismatch = errors.New("key mismatch")
	// ErrNotValidNow: the certificate has expired or is not valid yet.
	ErrNotValidNow = errors.New("certificate not valid now")
)

// CheckValidity returns an error wrapping ErrNotValidNow when the
// provider's own certificate (the first of its file) is not valid at the
// provider's clock: a broker and every node would refuse it. A provider
// without a certificate has nothing to check.
func (p *Provider) CheckValidity() error {
	st := p.st.Load()
	if st.tlsCert == nil || st.tlsCert.Leaf == nil {
		return nil
	}
	c, now := st.tlsCert.Leaf, p.now()
	switch {
	case now.After(c.NotAfter):
		return fmt.Errorf("%w: certificate %q expired on %s", ErrNotValidNow, certName(c), c.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(c.NotBefore):
		return fmt.Errorf("%w: certificate %q is not valid until %s (is this machine's clock right?)", ErrNotValidNow,
			certName(c), c.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}
