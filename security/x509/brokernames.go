package x509

import (
	"crypto/sha256"
	stdx509 "crypto/x509"
	"encoding/hex"
)

// CertName is the name a certificate is bound to: its subject CN, or the
// first DNS SAN when the CN is empty. The broker assigns roles by it and
// the nodes bind caller ids to it; other SANs never count.
func CertName(c *stdx509.Certificate) string { return certName(c) }

// InboxPrefix is the private NATS inbox prefix a tutti broker grants the
// certificate named name: "_INBOX." followed by the first 32 hex digits
// of SHA-256(name). A connection that needs request/reply on the broker
// (the signer's JetStream auditor waits for acknowledgements) sets it as
// its inbox prefix (nats.go CustomInboxPrefix); the broker lets only that
// certificate subscribe under it. One hashed token, so no certificate's
// prefix is a prefix of another's.
func InboxPrefix(name string) string {
	sum := sha256.Sum256([]byte(name))
	return "_INBOX." + hex.EncodeToString(sum[:16])
}
