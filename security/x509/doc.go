// Package x509 is tutti's certificate-based security provider: it loads a
// certificate, key and CA from files (Choria's "file" and "puppet"
// layouts), signs with RSA, ECDSA P-256 or Ed25519 keys, verifies requests
// and replies against the rules of docs/protocol.md §8, builds TLS
// configurations for broker connections, and runs a small PKI for
// development fleets (tutti pki).
//
// Verification cost: the certificate chain of a pubcert is verified once
// and remembered, keyed by SHA-256 of the pubcert bytes, until the
// earliest NotAfter in the chain, the next Reload, or eviction from a
// bounded cache. The signature and the callerid rules are checked on
// every call. Every refusal is a *protocol.Error of kind certificate,
// caller or signature whose reason names the certificate and the rule.
package x509
