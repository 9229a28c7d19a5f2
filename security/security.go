// Package security holds the interfaces between tutti and whatever proves
// who sent a message: a Signer makes signatures, a Verifier checks them
// together with the rules that bind a caller id to a certificate.
//
// Implementations: security/x509 (certificate and key files, the default),
// security/remote (a client-side RequestSigner that asks tutti-aaa).
//
// Verification is never optional. There is deliberately no switch to turn
// it off (docs/protocol.md §16 W19).
package security

import (
	"context"
	"errors"
)

// Signer signs bytes with a private key that never leaves it.
//
// Security caveat: a Signer is a signing oracle. Anything that hands it
// bytes chosen by someone else must first decide that the someone is
// entitled to a signature (the tutti-aaa signer checks the token, the
// request's agent and its ttl before it calls Sign).
type Signer interface {
	// Sign returns the signature of msg (RSA PKCS#1 v1.5 SHA-256, ECDSA
	// P-256 SHA-256 ASN.1, or Ed25519 over msg, by key type).
	Sign(msg []byte) ([]byte, error)
	// CertificatePEM is the PEM text sent as pubcert: the leaf first,
	// then any intermediates.
	CertificatePEM() []byte
	// Name is the certificate name (CN, or first DNS SAN).
	Name() string
}

// Caller is what a Verifier established about a request's sender.
type Caller struct {
	// CallerID is the envelope callerid, now bound to the certificate
	// (or asserted by a privileged certificate).
	CallerID string
	// CertName is the name of the signing certificate (CN).
	CertName string
	// Privileged is true when the certificate matched the privileged
	// patterns and so was allowed to assert CallerID.
	Privileged bool
	// Fingerprint is SHA-256 of the leaf certificate's DER.
	Fingerprint [32]byte
}

// Verifier checks signatures and the certificate rules of docs/protocol.md §8.
type Verifier interface {
	// VerifyRequest checks that pubcert chains to the trusted CA and is
	// valid now, that callerID is well formed and bound to the
	// certificate (or that the certificate is privileged), and that
	// signature is a valid signature over message by the certificate's
	// key. The error is a *protocol.Error with a kind and reason.
	VerifyRequest(message, signature, pubcert []byte, callerID string) (*Caller, error)
	// VerifyReply checks a node's reply signature (tutti extension):
	// pubcert chains to the CA, its name equals senderID, and signature
	// is valid over message.
	VerifyReply(message, signature, pubcert []byte, senderID string) error
}

// RequestSigner turns the serialised bytes of a choria:request:1 into the
// serialised bytes of a choria:secure:request:1. The local implementation
// signs with the user's key; the remote one asks tutti-aaa, which may
// rewrite the caller id from the user's token.
type RequestSigner interface {
	// CallerID is the caller id requests must carry for this signer.
	CallerID() string
	// SignRequest returns the serialised secure request.
	SignRequest(ctx context.Context, request []byte) ([]byte, error)
}

// ErrRevoked is wrapped by a verification refusal whose cause is a
// certificate listed in a CRL in force (errors.Is), so that a node can
// answer the revoked caller "certificate revoked" instead of dropping the
// request silently.
var ErrRevoked = errors.New("certificate revoked")
