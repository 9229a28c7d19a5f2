package mcossl

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/connector/mcollective"
	"github.com/tuttifleet/tutti/connector/protocol"
)

func key(t *testing.T, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func write(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Every key file form MCollective sites use verifies; a changed file is
// picked up without a restart, a removed one refuses the caller.
func TestCallerKeys(t *testing.T) {
	dir := t.TempDir()
	alice, bob, carol := key(t, 2048), key(t, 2048), key(t, 2048)
	pkix1, _ := x509.MarshalPKIXPublicKey(&alice.PublicKey)
	write(t, filepath.Join(dir, "alice.pem"), "PUBLIC KEY", pkix1)
	write(t, filepath.Join(dir, "bob.pem"), "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&bob.PublicKey))
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "carol"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(-time.Minute)} // expired: not looked at
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &carol.PublicKey, carol)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "carol.pem"), "CERTIFICATE", der)
	keys, err := NewCallerKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	v := Verifier{Callers: keys}
	for name, k := range map[string]*rsa.PrivateKey{"alice": alice, "bob": bob, "carol": carol} {
		sig, _ := mcollective.Sign(k, []byte("body"))
		c, err := v.VerifyRequest([]byte("body"), []byte(sig), nil, "cert="+name)
		if err != nil || c.CallerID != "cert="+name {
			t.Errorf("%s: %+v, %v", name, c, err)
		}
		if _, err := v.VerifyRequest([]byte("other"), []byte(sig), nil, "cert="+name); protocol.KindOf(err) != protocol.KindSignature {
			t.Errorf("%s: wrong body: %v", name, err)
		}
	}
	sig, _ := mcollective.Sign(bob, []byte("body"))
	if _, err := v.VerifyRequest([]byte("body"), []byte(sig), nil, "cert=alice"); protocol.KindOf(err) != protocol.KindSignature {
		t.Errorf("bob's signature as alice: %v", err)
	}
	// alice's file now holds bob's key (a later mtime and the same size)
	pkix2, _ := x509.MarshalPKIXPublicKey(&bob.PublicKey)
	write(t, filepath.Join(dir, "alice.pem"), "PUBLIC KEY", pkix2)
	later := time.Now().Add(time.Minute)
	_ = os.Chtimes(filepath.Join(dir, "alice.pem"), later, later)
	if _, err := v.VerifyRequest([]byte("body"), []byte(sig), nil, "cert=alice"); err != nil {
		t.Errorf("replaced key not picked up: %v", err)
	}
	_ = os.Remove(filepath.Join(dir, "alice.pem"))
	if _, err := keys.Key("cert=alice"); !errors.Is(err, ErrUnknownCaller) {
		t.Errorf("removed key: %v", err)
	}
	for _, id := range []string{"cert=../alice", "xcert=bob", "cert=bob/x", "cert=bob ", "uid=0"} {
		if _, err := v.VerifyRequest([]byte("body"), []byte(sig), nil, id); protocol.KindOf(err) != protocol.KindCaller {
			t.Errorf("callerid %q: %v", id, err)
		}
	}
	if _, err := v.VerifyRequest([]byte("body"), []byte(sig), []byte("pem"), "cert=bob"); err == nil {
		t.Error("a pubcert was accepted")
	}
}

func TestWeakAndForeignKeys(t *testing.T) {
	dir := t.TempDir()
	weak := key(t, 1024)
	write(t, filepath.Join(dir, "weak.pem"), "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&weak.PublicKey))
	write(t, filepath.Join(dir, "junk.pem"), "EC PRIVATE KEY", []byte("x"))
	for _, f := range []string{"weak.pem", "junk.pem", "missing.pem"} {
		if _, err := LoadPublicKey(filepath.Join(dir, f)); err == nil {
			t.Errorf("%s accepted", f)
		}
	}
	k := key(t, 2048)
	write(t, filepath.Join(dir, "server.pem"), "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k))
	if got, err := LoadPrivateKey(filepath.Join(dir, "server.pem")); err != nil || !got.Equal(k) {
		t.Fatalf("private key: %v", err)
	}
	v := Verifier{Server: &k.PublicKey}
	sig, _ := mcollective.Sign(k, []byte("reply"))
	if err := v.VerifyReply([]byte("reply"), []byte(sig), nil, "node1"); err != nil {
		t.Fatal(err)
	}
	if err := v.VerifyReply([]byte("replY"), []byte(sig), nil, "node1"); err == nil {
		t.Fatal("tampered reply verified")
	}
}
