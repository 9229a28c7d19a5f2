package x509

import (
	stdx509 "crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security"
)

// A CRL from RevokeInDir applied to a running provider refuses the
// revoked certificate at once (cached verification dropped); an older or
// foreign CRL is refused and changes nothing; a Reload keeps it.
func TestApplyCRLFromRevokeInDir(t *testing.T) {
	dir := t.TempDir()
	ca, err := InitDir(dir, KeyECDSA)
	if err != nil {
		t.Fatal(err)
	}
	alice, err := ca.Issue("alice.mcollective", IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := alice.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	bob, _ := ca.Issue("bob.mcollective", IssueOptions{})
	p := verifier(t, ca, Config{})
	sig := mustSign(t, alice, testMsg)
	if _, err := p.VerifyRequest(testMsg, sig, alice.CertPEM, "choria=alice.mcollective"); err != nil {
		t.Fatalf("before revocation: %v", err)
	}
	first, err := RevokeInDir(dir, Revocation{Target: "0x" + bob.Cert.SerialNumber.Text(16)}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	second, err := RevokeInDir(dir, Revocation{Target: "alice.mcollective", Reason: 1}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if second.Number.Int64() != 2 || second.Subject == "" {
		t.Fatalf("second CRL: number %v subject %q", second.Number, second.Subject)
	}
	info, err := p.ApplyCRL(second.PEM)
	if err != nil || info.Entries != 2 {
		t.Fatalf("ApplyCRL: %+v %v", info, err)
	}
	_, err = p.VerifyRequest(testMsg, sig, alice.CertPEM, "choria=alice.mcollective")
	wantRefusal(t, err, protocol.KindCertificate, "revoked")
	if !errors.Is(err, security.ErrRevoked) {
		t.Fatalf("refusal does not wrap ErrRevoked: %v", err)
	}
	if err := p.CheckChain([]*stdx509.Certificate{alice.Cert, ca.Cert}); !errors.Is(err, security.ErrRevoked) {
		t.Fatalf("CheckChain: %v", err)
	}
	if _, err := p.ApplyCRL(first.PEM); !errors.Is(err, ErrStaleCRL) {
		t.Fatalf("older CRL: %v", err)
	}
	if _, err := p.ApplyCRL(second.PEM); !errors.Is(err, ErrStaleCRL) {
		t.Fatalf("same CRL again: %v", err)
	}
	other := t.TempDir()
	if _, err := InitDir(other, KeyECDSA); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "x.pem"), alice.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	foreign, err := RevokeInDir(other, Revocation{Target: "12345"}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.ApplyCRL(foreign.PEM); err == nil {
		t.Fatal("a CRL of another CA was applied")
	}
	if err := p.Reload(); err != nil {
		t.Fatal(err)
	}
	_, err = p.VerifyRequest(testMsg, sig, alice.CertPEM, "choria=alice.mcollective")
	wantRefusal(t, err, protocol.KindCertificate, "revoked")
}

func FuzzApplyCRL(f *testing.F) {
	dir := f.TempDir()
	if _, err := InitDir(dir, KeyECDSA); err != nil {
		f.Fatal(err)
	}
	r, err := RevokeInDir(dir, Revocation{Target: "42"}, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	ca, err := LoadCADir(dir)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(r.PEM)
	f.Add([]byte("-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := NewFromPEM(nil, nil, ca.CertPEM, Config{})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = ParseCRL(data)
		_, _ = p.ApplyCRL(data)
	})
}
