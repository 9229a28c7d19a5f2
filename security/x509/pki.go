package x509

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	stdx509 "crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// KeyType is a private key algorithm.
type KeyType string

// Supported key types. ECDSA P-256 is the default: cheap to sign and verify.
// Use RSA where Choria nodes must verify requests (they only know RSA).
const (
	KeyECDSA   KeyType = "ecdsa"
	KeyRSA     KeyType = "rsa"
	KeyEd25519 KeyType = "ed25519"
)

// ParseKeyType parses "rsa", "ecdsa" or "ed25519" ("" means ecdsa).
func ParseKeyType(s string) (KeyType, error) {
	switch strings.ToLower(s) {
	case "", "ecdsa", "ec", "p256":
		return KeyECDSA, nil
	case "rsa":
		return KeyRSA, nil
	case "ed25519":
		return KeyEd25519, nil
	}
	return "", fmt.Errorf("unknown key type %q: want rsa, ecdsa or ed25519", s)
}

// GenerateKey makes a new private key of type t.
func GenerateKey(t KeyType) (crypto.Signer, error) {
	switch t {
	case KeyECDSA, "":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case KeyRSA:
		return rsa.GenerateKey(rand.Reader, 2048)
	case KeyEd25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("unknown key type %q", t)
}

// CA is a certificate authority held in memory: enough to issue node,
// client and broker certificates for tests, the demo and the emulator.
type CA struct {
	Cert    *stdx509.Certificate
	CertPEM []byte
	Key     crypto.Signer
}

// Issued is a certificate and its key.
type Issued struct {
	Name    string
	Cert    *stdx509.Certificate
	CertPEM []byte
	Key     crypto.Signer
	KeyPEM  []byte
}

// NewCA creates a self-signed CA named name (e.g. "tutti dev CA").
func NewCA(name string, t KeyType, validity time.Duration) (*CA, error) {
	key, err := GenerateKey(t)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &stdx509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"tutti"}},
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              now.Add(validity),
		KeyUsage:              stdx509.KeyUsageCertSign | stdx509.KeyUsageCRLSign | stdx509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        false,
		SubjectKeyId:          keyID(key.Public()),
	}
	der, err := stdx509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := stdx509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, CertPEM: pemBlock("CERTIFICATE", der), Key: key}, nil
}

// IssueOptions shapes an issued certificate.
type IssueOptions struct {
	KeyType  KeyType
	SANs     []string // DNS names, IP addresses or email addresses (with @)
	Validity time.Duration
	// NotBefore overrides the start of validity (tests of expired or
	// not-yet-valid certificates).
	NotBefore time.Time
	// Key uses an existing key instead of generating one.
	Key crypto.Signer
}

var certNameRe = regexp.MustCompile(`^[\w.\-@]+$`)

// Issue makes a certificate for name, signed by the CA. The name becomes
// the CN and the first DNS SAN; the certificate is good for TLS server and
// client auth, so one certificate serves a node for both the broker
// connection and request signing, as in Choria.
func (ca *CA) Issue(name string, opts IssueOptions) (*Issued, error) {
	if !certNameRe.MatchString(name) {
		return nil, fmt.Errorf("invalid certificate name %q: use letters, digits, '.', '-', '_'", name)
	}
	key := opts.Key
	if key == nil {
		var err error
		if key, err = GenerateKey(opts.KeyType); err != nil {
			return nil, err
		}
	}
	validity := opts.Validity
	if validity == 0 {
		validity = 365 * 24 * time.Hour
	}
	nb := opts.NotBefore
	if nb.IsZero() {
		nb = time.Now().Add(-5 * time.Minute)
	}
	tmpl := &stdx509.Certificate{
		SerialNumber:   randomSerial(),
		Subject:        pkix.Name{CommonName: name},
		NotBefore:      nb,
		NotAfter:       nb.Add(validity),
		KeyUsage:       stdx509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []stdx509.ExtKeyUsage{stdx509.ExtKeyUsageServerAuth, stdx509.ExtKeyUsageClientAuth},
		DNSNames:       []string{name},
		SubjectKeyId:   keyID(key.Public()),
		AuthorityKeyId: ca.Cert.SubjectKeyId,
	}
	if _, isRSA := key.(*rsa.PrivateKey); isRSA {
		tmpl.KeyUsage |= stdx509.KeyUsageKeyEncipherment
	}
	for _, san := range opts.SANs {
		switch {
		case net.ParseIP(san) != nil:
			tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(san))
		case strings.Contains(san, "@"):
			tmpl.EmailAddresses = append(tmpl.EmailAddresses, san)
		case san != name:
			tmpl.DNSNames = append(tmpl.DNSNames, san)
		}
	}
	der, err := stdx509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, fmt.Errorf("issue %s: %w", name, err)
	}
	cert, err := stdx509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyDER, err := stdx509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &Issued{Name: name, Cert: cert, CertPEM: pemBlock("CERTIFICATE", der), Key: key, KeyPEM: pemBlock("PRIVATE KEY", keyDER)}, nil
}

// File names inside a PKI directory made by InitDir.
const (
	CAFile    = "ca.pem"
	CAKeyFile = "ca.key"
)

// InitDir creates a new CA in dir (ca.pem, ca.key with mode 0600). It
// refuses to overwrite an existing CA.
func InitDir(dir string, t KeyType) (*CA, error) {
	if _, err := os.Stat(filepath.Join(dir, CAKeyFile)); err == nil {
		return nil, fmt.Errorf("%s already holds a CA (%s); refusing to overwrite it", dir, CAKeyFile)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	ca, err := NewCA("tutti CA", t, 10*365*24*time.Hour)
	if err != nil {
		return nil, err
	}
	keyDER, err := stdx509.MarshalPKCS8PrivateKey(ca.Key)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, CAKeyFile), pemBlock("PRIVATE KEY", keyDER), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, CAFile), ca.CertPEM, 0o644); err != nil {
		return nil, err
	}
	return ca, nil
}

// LoadCADir loads the CA made by InitDir (or a site's own CA saved as
// ca.pem and ca.key).
func LoadCADir(dir string) (*CA, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, CAFile))
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, fmt.Errorf("load CA key: %w", err)
	}
	certs, err := ParseCertificatesPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("load CA %s: %w", filepath.Join(dir, CAFile), err)
	}
	key, err := ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load CA key %s: %w", filepath.Join(dir, CAKeyFile), err)
	}
	return &CA{Cert: certs[0], CertPEM: certPEM, Key: key}, nil
}

// IssueToDir issues name from the CA in dir and writes NAME.pem and
// NAME.key (0600) there. It returns the paths written.
func IssueToDir(dir, name string, opts IssueOptions) (certPath, keyPath string, err error) {
	ca, err := LoadCADir(dir)
	if err != nil {
		return "", "", err
	}
	is, err := ca.Issue(name, opts)
	if err != nil {
		return "", "", err
	}
	return is.WriteFiles(dir)
}

// WriteFiles writes NAME.pem and NAME.key (0600) into dir.
func (is *Issued) WriteFiles(dir string) (certPath, keyPath string, err error) {
	certPath = filepath.Join(dir, is.Name+".pem")
	keyPath = filepath.Join(dir, is.Name+".key")
	if err := os.WriteFile(keyPath, is.KeyPEM, 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(certPath, is.CertPEM, 0o644); err != nil {
		return "", "", err
	}
	return certPath, keyPath, nil
}

// ParseCertificatesPEM parses every CERTIFICATE block in data.
func ParseCertificatesPEM(data []byte) ([]*stdx509.Certificate, error) {
	var out []*stdx509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := stdx509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return out, nil
}

// ParsePrivateKeyPEM parses a PKCS#1 RSA, SEC1 EC or PKCS#8 private key.
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("no PEM private key found")
		}
		switch b.Type {
		case "RSA PRIVATE KEY":
			return stdx509.ParsePKCS1PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			return stdx509.ParseECPrivateKey(b.Bytes)
		case "PRIVATE KEY":
			k, err := stdx509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return nil, err
			}
			s, ok := k.(crypto.Signer)
			if !ok {
				return nil, fmt.Errorf("unsupported private key type %T", k)
			}
			return s, nil
		}
	}
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return n
}

func keyID(pub crypto.PublicKey) []byte {
	der, err := stdx509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil
	}
	sum := sha256.Sum256(der)
	return sum[:20]
}
