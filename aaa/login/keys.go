package login

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	stdx509 "crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	tx509 "github.com/tuttifleet/tutti/security/x509"
)

// ErrKey is wrapped by every refusal of a JWT signing or verification key.
var ErrKey = errors.New("unusable JWT key")

// minRSABits is the smallest RSA key accepted for JWTs.
const minRSABits = 2048

// LoadSigningKey reads the login service's JWT key
// (userlist_authenticator.signing_key): an RSA private key in PEM (RS256)
// or a file holding the 64 hex characters of an ed25519 seed (EdDSA).
func LoadSigningKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	k, err := ParseSigningKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// ParseSigningKey is LoadSigningKey on the file's contents.
func ParseSigningKey(data []byte) (crypto.Signer, error) {
	if seed, ok := hexBytes(data, ed25519.SeedSize); ok {
		return ed25519.NewKeyFromSeed(seed), nil
	}
	k, err := tx509.ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%w: neither a 64 hex character ed25519 seed nor a PEM private key: %w", ErrKey, err)
	}
	if err := checkJWTKey(k.Public()); err != nil {
		return nil, err
	}
	return k, nil
}

// LoadVerifyKey reads the public key signers check JWTs with
// (basicjwt_signer.signing_certificate): a PEM certificate, PEM public
// key (PKIX or PKCS#1), or 64 hex characters of an ed25519 public key.
func LoadVerifyKey(path string) (crypto.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	k, err := ParseVerifyKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// ParseVerifyKey is LoadVerifyKey on the file's contents.
func ParseVerifyKey(data []byte) (crypto.PublicKey, error) {
	if pub, ok := hexBytes(data, ed25519.PublicKeySize); ok {
		return ed25519.PublicKey(pub), nil
	}
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, fmt.Errorf("%w: no certificate, public key or ed25519 hex key found", ErrKey)
		}
		pub, err := pemPublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("%w: %s block: %w", ErrKey, b.Type, err)
		}
		if pub == nil {
			continue
		}
		if err := checkJWTKey(pub); err != nil {
			return nil, err
		}
		return pub, nil
	}
}

// pemPublicKey returns the public key in b, or nil for a block that
// holds none.
func pemPublicKey(b *pem.Block) (crypto.PublicKey, error) {
	switch b.Type {
	case "CERTIFICATE":
		c, err := stdx509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		return c.PublicKey, nil
	case "PUBLIC KEY":
		return stdx509.ParsePKIXPublicKey(b.Bytes)
	case "RSA PUBLIC KEY":
		return stdx509.ParsePKCS1PublicKey(b.Bytes)
	}
	return nil, nil
}

// checkJWTKey accepts RSA of at least 2048 bits and ed25519.
func checkJWTKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return fmt.Errorf("%w: RSA key has %d bits, at least %d are required", ErrKey, k.N.BitLen(), minRSABits)
		}
		return nil
	case ed25519.PublicKey:
		return nil
	}
	return fmt.Errorf("%w: %T keys are not supported for JWTs (use RSA for RS256 or ed25519 for EdDSA)", ErrKey, pub)
}

// hexBytes decodes data (surrounding whitespace ignored) when it is
// exactly n bytes of hex.
func hexBytes(data []byte, n int) ([]byte, bool) {
	t := bytes.TrimSpace(data)
	if len(t) != 2*n {
		return nil, false
	}
	out := make([]byte, n)
	if _, err := hex.Decode(out, t); err != nil {
		return nil, false
	}
	return out, true
}
