// Package mcossl holds the keys of MCollective's ssl security plugin
// (securityprovider = ssl, docs/mcollective.md): the directory of
// callers' public keys a node verifies requests with
// (plugin.ssl_client_cert_dir, <name>.pem for callerid cert=<name>),
// the fleet-wide server key pair nodes sign replies with
// (plugin.ssl_server_private / _public), and a client's own pair.
//
// There is no CA and no chain: a key file in the directory is the trust,
// exactly as in MCollective. Key files may hold a bare RSA public key
// (PKCS#1 or PKIX) or a certificate, whose key is used and whose dates
// and issuer are not looked at (MCollective does not either).
//
// Keys are parsed once and kept; a caller's file is looked at again
// (stat only) on each request and parsed again only when it changed, so
// adding or removing a caller needs no restart and no file is opened per
// request (W11).
package mcossl

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tuttifleet/tutti/connector/mcollective"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security"
)

// ErrUnknownCaller is wrapped when the directory has no key for a caller.
var ErrUnknownCaller = errors.New("no public key for caller")

// maxKeyFile bounds a key file read.
const maxKeyFile = 64 << 10

// minRSABits refuses keys too weak to mean anything.
const minRSABits = 2048

// CallerKeys is plugin.ssl_client_cert_dir.
type CallerKeys struct {
	dir string

	mu    sync.Mutex
	cache map[string]cachedKey
}

type cachedKey struct {
	mod  time.Time
	size int64
	key  *rsa.PublicKey
}

// NewCallerKeys serves the keys of dir, which must exist.
func NewCallerKeys(dir string) (*CallerKeys, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("plugin.ssl_client_cert_dir: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("plugin.ssl_client_cert_dir %s is not a directory", dir)
	}
	return &CallerKeys{dir: dir, cache: map[string]cachedKey{}}, nil
}

// Key returns the public key of callerID (cert=<name> exactly).
func (c *CallerKeys) Key(callerID string) (*rsa.PublicKey, error) {
	name, err := mcollective.CallerName(callerID)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(c.dir, name+".pem")
	st, err := os.Stat(path)
	if err != nil {
		c.mu.Lock()
		delete(c.cache, name)
		c.mu.Unlock()
		return nil, fmt.Errorf("%w %s: %s: %w", ErrUnknownCaller, callerID, path, err)
	}
	c.mu.Lock()
	k, ok := c.cache[name]
	c.mu.Unlock()
	if ok && k.mod.Equal(st.ModTime()) && k.size == st.Size() {
		return k.key, nil
	}
	pub, err := LoadPublicKey(path)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.cache[name] = cachedKey{mod: st.ModTime(), size: st.Size(), key: pub}
	c.mu.Unlock()
	return pub, nil
}

// Verifier is the security.Verifier of ssl mode: requests are verified
// with the caller's key from Callers (the message is the signed inner
// body, the signature the base64 :hash text); replies with the fleet's
// shared server key (a reply so cannot be tied to one node: the sender
// name stays unverified, W6).
type Verifier struct {
	Callers *CallerKeys    // nodes
	Server  *rsa.PublicKey // clients
}

// VerifyRequest checks signature as the key of callerID over message.
// pubcert must be empty: ssl requests carry no key.
func (v Verifier) VerifyRequest(message, signature, pubcert []byte, callerID string) (*security.Caller, error) {
	if len(pubcert) != 0 {
		return nil, protocol.Errorf(protocol.KindSignature, "an ssl request carries no certificate")
	}
	name, err := mcollective.CallerName(callerID)
	if err != nil {
		return nil, protocol.Wrap(protocol.KindCaller, err, "request")
	}
	if v.Callers == nil {
		return nil, protocol.Errorf(protocol.KindCaller, "no plugin.ssl_client_cert_dir: cannot verify %s", callerID)
	}
	key, err := v.Callers.Key(callerID)
	if err != nil {
		return nil, protocol.Wrap(protocol.KindCaller, err, "Could not find a public key for %s", callerID)
	}
	if err := mcollective.Verify(key, message, string(signature)); err != nil {
		return nil, protocol.Wrap(protocol.KindSignature, err, "request from %s", callerID)
	}
	return &security.Caller{CallerID: callerID, CertName: name}, nil
}

// VerifyReply checks signature with the server key; senderID is not
// bound to anything (every node has the same key).
func (v Verifier) VerifyReply(message, signature, pubcert []byte, senderID string) error {
	if v.Server == nil {
		return protocol.Errorf(protocol.KindSignature, "no plugin.ssl_server_public: cannot verify the reply of %s", senderID)
	}
	if err := mcollective.Verify(v.Server, message, string(signature)); err != nil {
		return protocol.Wrap(protocol.KindSignature, err, "reply from %s", senderID)
	}
	return nil
}

// LoadPublicKey reads an RSA public key from a PEM file: PUBLIC KEY,
// RSA PUBLIC KEY or CERTIFICATE.
func LoadPublicKey(path string) (*rsa.PublicKey, error) {
	b, err := readSmall(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	var pub any
	switch blk.Type {
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(blk.Bytes)
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(blk.Bytes)
	case "CERTIFICATE":
		var c *x509.Certificate
		if c, err = x509.ParseCertificate(blk.Bytes); err == nil {
			pub = c.PublicKey
		}
	default:
		return nil, fmt.Errorf("%s: PEM block %q is not a public key or certificate", path, blk.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	rk, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%s: a %T key; the ssl plugin signs with RSA", path, pub)
	}
	if rk.N.BitLen() < minRSABits {
		return nil, fmt.Errorf("%s: RSA key of %d bits, at least %d required", path, rk.N.BitLen(), minRSABits)
	}
	return rk, nil
}

// LoadPrivateKey reads an RSA private key (PKCS#1 or PKCS#8 PEM).
func LoadPrivateKey(path string) (*rsa.PrivateKey, error) {
	b, err := readSmall(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	var key any
	switch blk.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	default:
		return nil, fmt.Errorf("%s: PEM block %q is not a private key", path, blk.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: a %T key; the ssl plugin signs with RSA", path, key)
	}
	return rk, nil
}

func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, maxKeyFile+1)
	n, err := f.Read(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if n > maxKeyFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxKeyFile)
	}
	return b[:n], nil
}

var _ security.Verifier = Verifier{}
