package x509

import (
	"crypto"
	"crypto/rand"
	stdx509 "crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/connector/protocol"
)

// testClock is a settable clock for Config.Now, safe for concurrent use.
type testClock struct{ ns atomic.Int64 }

func newTestClock(t time.Time) *testClock {
	c := &testClock{}
	c.set(t)
	return c
}

func (c *testClock) set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *testClock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *testClock) add(d time.Duration) { c.set(c.Now().Add(d)) }

// mustCA makes a CA or fails the test.
func mustCA(t testing.TB, name string, kt KeyType) *CA {
	t.Helper()
	ca, err := NewCA(name, kt, 10*365*24*time.Hour)
	if err != nil {
		t.Fatalf("NewCA: %v", err)
	}
	return ca
}

// mustIssue issues name from ca or fails the test.
func mustIssue(t testing.TB, ca *CA, name string, opts IssueOptions) *Issued {
	t.Helper()
	is, err := ca.Issue(name, opts)
	if err != nil {
		t.Fatalf("Issue %s: %v", name, err)
	}
	return is
}

// issueTemplate signs tmpl for key with parent, for certificate shapes
// CA.Issue does not make (no SAN, other usages, intermediate CAs).
func issueTemplate(t testing.TB, parent *CA, tmpl *stdx509.Certificate, key crypto.Signer) *Issued {
	t.Helper()
	if tmpl.SerialNumber == nil {
		tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
		tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	}
	der, err := stdx509.CreateCertificate(rand.Reader, tmpl, parent.Cert, key.Public(), parent.Key)
	if err != nil {
		t.Fatalf("CreateCertificate: %v", err)
	}
	cert, err := stdx509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := stdx509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &Issued{Name: cert.Subject.CommonName, Cert: cert, CertPEM: pemBlock("CERTIFICATE", der),
		Key: key, KeyPEM: pemBlock("PRIVATE KEY", keyDER)}
}

// mustIntermediate makes an intermediate CA under root.
func mustIntermediate(t testing.TB, root *CA, name string) *CA {
	t.Helper()
	key, err := GenerateKey(KeyECDSA)
	if err != nil {
		t.Fatal(err)
	}
	is := issueTemplate(t, root, &stdx509.Certificate{
		Subject:               pkix.Name{CommonName: name},
		KeyUsage:              stdx509.KeyUsageCertSign | stdx509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          keyID(key.Public()),
		AuthorityKeyId:        root.Cert.SubjectKeyId,
	}, key)
	return &CA{Cert: is.Cert, CertPEM: is.CertPEM, Key: key}
}

// mustKey generates a key or fails the test.
func mustKey(t testing.TB, kt KeyType) crypto.Signer {
	t.Helper()
	k, err := GenerateKey(kt)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// mustSign signs msg with is's key.
func mustSign(t testing.TB, is *Issued, msg []byte) []byte {
	t.Helper()
	sig, err := SignWith(is.Key, msg)
	if err != nil {
		t.Fatalf("SignWith: %v", err)
	}
	return sig
}

// writeCRL writes a CRL from ca revoking certs and returns its path.
func writeCRL(t testing.TB, dir string, ca *CA, certs ...*stdx509.Certificate) string {
	t.Helper()
	tmpl := &stdx509.RevocationList{
		Number:     big.NewInt(time.Now().UnixNano()),
		ThisUpdate: time.Now().Add(-time.Minute),
		NextUpdate: time.Now().Add(24 * time.Hour),
	}
	for _, c := range certs {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			stdx509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: time.Now()})
	}
	der, err := stdx509.CreateRevocationList(rand.Reader, tmpl, ca.Cert, ca.Key)
	if err != nil {
		t.Fatalf("CreateRevocationList: %v", err)
	}
	path := filepath.Join(dir, "crl.pem")
	if err := os.WriteFile(path, pemBlock("X509 CRL", der), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// wantRefusal checks that err is a *protocol.Error of kind with a reason
// containing substr.
func wantRefusal(t testing.TB, err error, kind protocol.Kind, substr string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error, want %s refusal containing %q", kind, substr)
	}
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *protocol.Error", err, err)
	}
	if pe.Kind != kind {
		t.Fatalf("kind = %s, want %s (error: %v)", pe.Kind, kind, err)
	}
	if !strings.Contains(pe.Reason, substr) {
		t.Fatalf("reason %q does not contain %q", pe.Reason, substr)
	}
}

// verifier builds a verify-only provider trusting ca.
func verifier(t testing.TB, ca *CA, cfg Config) *Provider {
	t.Helper()
	p, err := NewFromPEM(nil, nil, ca.CertPEM, cfg)
	if err != nil {
		t.Fatalf("NewFromPEM: %v", err)
	}
	return p
}

var testMsg = []byte(`{"protocol":"choria:request:1","message":"{}","envelope":{"callerid":"choria=alice.mcollective"}}`)
