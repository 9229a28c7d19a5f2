package x509

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Choria servers (go-choria, protocol v1) read the key of a request's
// pubcert as an RSA key without checking (an unchecked type assertion)
// and crash on an ECDSA or Ed25519 one. Whoever signs requests for a
// fleet that still has Choria servers must sign with an RSA key: the CLI
// with plugin.tutti.choria_servers, tutti-aaa with choria_servers.

// ErrNotRSA is wrapped by RequireRSA's refusal.
var ErrNotRSA = errors.New("the signing key is not RSA")

// KeyTypeOf names the algorithm of a public or private key; "" for any
// other.
func KeyTypeOf(key any) KeyType {
	if s, ok := key.(crypto.Signer); ok {
		key = s.Public()
	}
	switch key.(type) {
	case *rsa.PublicKey:
		return KeyRSA
	case *ecdsa.PublicKey:
		return KeyECDSA
	case ed25519.PublicKey:
		return KeyEd25519
	}
	return ""
}

// KeyType is the algorithm of the provider's private key; "" for a
// verify-only provider.
func (p *Provider) KeyType() KeyType {
	st := p.st.Load()
	if st.key == nil {
		return ""
	}
	return KeyTypeOf(st.key)
}

// RequireRSA refuses to let the provider sign for a fleet with Choria
// servers unless its key is RSA. The error names the key type, the
// certificate and how to fix it; it wraps ErrNotRSA.
func (p *Provider) RequireRSA() error {
	kt := p.KeyType()
	if kt == KeyRSA {
		return nil
	}
	if kt == "" {
		kt = "unknown"
	}
	name := p.Name()
	return fmt.Errorf("certificate %q has an %s key: %w, and Choria servers crash on a request signed with any other; "+
		"reissue it with `tutti pki issue --key-type rsa %s` (or your CA's equivalent)", name, strings.ToUpper(string(kt)), ErrNotRSA, name)
}

// IsCallerName reports whether name matches the default caller
// certificate patterns (DefaultCertnameAllow): users and privileged
// signers, whose certificates sign requests.
func IsCallerName(name string) bool {
	for _, p := range DefaultCertnameAllow {
		if regexp.MustCompile(p).MatchString(name) {
			return true
		}
	}
	return false
}
