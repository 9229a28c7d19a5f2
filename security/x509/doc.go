// Package x509 is tutti's certificate-based security provider: it loads a
// certificate, key and CA from files (Choria's "file" and "puppet"
// layouts), signs with RSA, ECDSA P-256 or Ed25519 keys, verifies requests
// and replies against the rules of PROTOCOL.md §8, builds TLS
// configurations for broker connections, and runs a small PKI for
// development fleets (tutti pki).
package x509
