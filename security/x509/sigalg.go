package x509

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
)

// MinRSABits is the smallest RSA modulus tutti accepts in a certificate
// that signs requests or replies (docs/protocol.md §6.1, Hardening).
const MinRSABits = 2048

// SignWith signs msg with key, choosing the algorithm by key type:
// RSA PKCS#1 v1.5 over SHA-256(msg), ECDSA P-256 over SHA-256(msg) with an
// ASN.1 DER signature, or Ed25519 over msg itself (docs/protocol.md §6.1).
//
// key may be any crypto.Signer (a parsed key, an HSM or agent handle); the
// algorithm follows key.Public().
func SignWith(key crypto.Signer, msg []byte) ([]byte, error) {
	if key == nil {
		return nil, errors.New("sign: no private key")
	}
	switch pub := key.Public().(type) {
	case *rsa.PublicKey:
		digest := sha256.Sum256(msg)
		sig, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("sign with RSA key: %w", err)
		}
		return sig, nil
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return nil, fmt.Errorf("sign: ECDSA curve %s is not supported, use P-256", pub.Curve.Params().Name)
		}
		digest := sha256.Sum256(msg)
		sig, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("sign with ECDSA key: %w", err)
		}
		return sig, nil
	case ed25519.PublicKey:
		sig, err := key.Sign(rand.Reader, msg, crypto.Hash(0))
		if err != nil {
			return nil, fmt.Errorf("sign with Ed25519 key: %w", err)
		}
		return sig, nil
	default:
		return nil, fmt.Errorf("sign: unsupported key type %T", pub)
	}
}

// The refusals VerifyWith and certCache.verify share.
var (
	errEmptySignature = errors.New("empty signature")
	errECDSASignature = errors.New("ECDSA SHA-256 signature does not verify")
)

// VerifyWith checks that sig is a signature over msg by pub, using the
// algorithm SignWith uses for that key type. It returns nil on success and
// a descriptive error otherwise; it does not judge key strength (see
// checkKeyStrength).
func VerifyWith(pub crypto.PublicKey, msg, sig []byte) error {
	if len(sig) == 0 {
		return errEmptySignature
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		digest := sha256.Sum256(msg)
		if err := rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], sig); err != nil {
			return fmt.Errorf("RSA PKCS#1 v1.5 SHA-256 signature does not verify: %w", err)
		}
		return nil
	case *ecdsa.PublicKey:
		digest := sha256.Sum256(msg)
		if !ecdsa.VerifyASN1(k, digest[:], sig) {
			return errECDSASignature
		}
		return nil
	case ed25519.PublicKey:
		if !ed25519.Verify(k, msg, sig) {
			return errors.New("Ed25519 signature does not verify")
		}
		return nil
	default:
		return fmt.Errorf("unsupported public key type %T", pub)
	}
}

// checkKeyStrength refuses keys tutti does not verify with: RSA under
// MinRSABits and ECDSA on curves other than P-256.
func checkKeyStrength(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if bits := k.N.BitLen(); bits < MinRSABits {
			return fmt.Errorf("RSA key of %d bits is too small, need at least %d", bits, MinRSABits)
		}
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return fmt.Errorf("ECDSA curve %s is not supported, use P-256", k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
	default:
		return fmt.Errorf("unsupported public key type %T", pub)
	}
	return nil
}
