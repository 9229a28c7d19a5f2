package x509

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/connector/protocol"
)

// TestGoldenVector checks the observed Choria request of docs/protocol.md §3
// and §6.2 with the embedded public key only: the lab CA is not
// available, and the certificate's dates are not the point.
func TestGoldenVector(t *testing.T) {
	msg, err := os.ReadFile("testdata/golden_message.txt")
	if err != nil {
		t.Fatal(err)
	}
	sigB64, err := os.ReadFile("testdata/golden_signature.b64")
	if err != nil {
		t.Fatal(err)
	}
	pubcert, err := os.ReadFile("testdata/golden_pubcert.pem")
	if err != nil {
		t.Fatal(err)
	}
	if len(msg) != 385 {
		t.Fatalf("message is %d bytes, want 385", len(msg))
	}
	sum := sha256.Sum256(msg)
	if got := hex.EncodeToString(sum[:]); got != "9db87c3d9a6382c857ec886e9cea589ba390ec68687a4c24ca03d3ac3a5d381b" {
		t.Fatalf("SHA-256(message) = %s", got)
	}
	sig, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(sigB64)))
	if err != nil {
		t.Fatal(err)
	}
	if len(sig) != 256 {
		t.Fatalf("signature is %d bytes, want 256", len(sig))
	}
	certs, err := ParseCertificatesPEM(pubcert)
	if err != nil {
		t.Fatal(err)
	}
	leaf := certs[0]
	if leaf.Subject.CommonName != "anchor.mcollective" || leaf.Issuer.CommonName != "Choria Anchor CA" {
		t.Fatalf("unexpected certificate %s issued by %s", leaf.Subject, leaf.Issuer)
	}
	if k, ok := leaf.PublicKey.(*rsa.PublicKey); !ok || k.N.BitLen() != 2048 {
		t.Fatalf("public key %T is not RSA-2048", leaf.PublicKey)
	}
	if err := checkKeyStrength(leaf.PublicKey); err != nil {
		t.Fatalf("golden key refused: %v", err)
	}
	if err := VerifyWith(leaf.PublicKey, msg, sig); err != nil {
		t.Fatalf("golden signature does not verify: %v", err)
	}
	bad := bytes.Replace(msg, []byte(`"ttl":60`), []byte(`"ttl":61`), 1)
	if err := VerifyWith(leaf.PublicKey, bad, sig); err == nil {
		t.Fatal("signature verified over a modified message")
	}
	if kind, name, ok := parseCallerID("choria=anchor.mcollective"); !ok || kind != "choria" || name != leaf.DNSNames[0] {
		t.Fatalf("golden callerid does not bind to SAN %v", leaf.DNSNames)
	}
}

// TestSignVerifyRoundTrip signs with a provider of each key type and
// verifies with a verify-only provider of the same CA.
func TestSignVerifyRoundTrip(t *testing.T) {
	for _, kt := range []KeyType{KeyRSA, KeyECDSA, KeyEd25519} {
		t.Run(string(kt), func(t *testing.T) {
			ca := mustCA(t, "test CA", kt)
			is := mustIssue(t, ca, "node1.mcollective", IssueOptions{KeyType: kt})
			signer, err := NewFromPEM(is.CertPEM, is.KeyPEM, ca.CertPEM, Config{})
			if err != nil {
				t.Fatal(err)
			}
			if signer.Name() != "node1.mcollective" || !bytes.Equal(signer.CertificatePEM(), is.CertPEM) {
				t.Fatalf("Name %q / CertificatePEM mismatch", signer.Name())
			}
			sig, err := signer.Sign(testMsg)
			if err != nil {
				t.Fatal(err)
			}
			v := verifier(t, ca, Config{})
			if _, err := v.VerifyRequest(testMsg, sig, signer.CertificatePEM(), "choria=node1.mcollective"); err != nil {
				t.Fatalf("VerifyRequest: %v", err)
			}
			if err := v.VerifyReply(testMsg, sig, signer.CertificatePEM(), "node1.mcollective"); err != nil {
				t.Fatalf("VerifyReply: %v", err)
			}
			if err := VerifyWith(is.Cert.PublicKey, testMsg, sig); err != nil {
				t.Fatalf("VerifyWith: %v", err)
			}
			flipped := append([]byte{}, sig...)
			flipped[len(flipped)/2] ^= 1
			if err := VerifyWith(is.Cert.PublicKey, testMsg, flipped); err == nil {
				t.Fatal("VerifyWith accepted a corrupted signature")
			}
		})
	}
}

func TestVerifyOnlyProviderCannotSign(t *testing.T) {
	ca := mustCA(t, "test CA", KeyECDSA)
	p := verifier(t, ca, Config{})
	if _, err := p.Sign(testMsg); err == nil {
		t.Fatal("verify-only provider signed")
	}
	if p.CertificatePEM() != nil || p.Name() != "" {
		t.Fatalf("verify-only provider has identity %q", p.Name())
	}
}

// TestOpenSSLInterop checks that certificates, keys and signatures made by
// the openssl CLI verify, and that our RSA signatures verify with openssl.
func TestOpenSSLInterop(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	dir := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command("openssl", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
		"-days", "30", "-subj", "/CN=openssl CA")
	write("leaf.ext", "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"+
		"extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:rsa.mcollective\n")
	run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "rsa.key", "-out", "rsa.csr", "-subj", "/CN=rsa.mcollective")
	run("x509", "-req", "-in", "rsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
		"-out", "rsa.pem", "-days", "30", "-extfile", "leaf.ext")
	write("ec.ext", "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"+
		"extendedKeyUsage=clientAuth\nsubjectAltName=DNS:ec.mcollective\n")
	run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ec.key")
	run("req", "-new", "-key", "ec.key", "-out", "ec.csr", "-subj", "/CN=ec.mcollective")
	run("x509", "-req", "-in", "ec.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
		"-out", "ec.pem", "-days", "30", "-extfile", "ec.ext")
	write("msg.bin", string(testMsg))

	v, err := New(Config{CAFile: filepath.Join(dir, "ca.pem")})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"rsa", "ec"} {
		t.Run(name, func(t *testing.T) {
			run("dgst", "-sha256", "-sign", name+".key", "-out", name+".sig", "msg.bin")
			sig, _ := os.ReadFile(filepath.Join(dir, name+".sig"))
			pubcert, _ := os.ReadFile(filepath.Join(dir, name+".pem"))
			caller := "choria=" + name + ".mcollective"
			if _, err := v.VerifyRequest(testMsg, sig, pubcert, caller); err != nil {
				t.Fatalf("openssl signature refused: %v", err)
			}
			// Our provider loads openssl's key files (PKCS#8 RSA, SEC1 EC).
			p, err := New(Config{CAFile: filepath.Join(dir, "ca.pem"),
				CertFile: filepath.Join(dir, name+".pem"), KeyFile: filepath.Join(dir, name+".key")})
			if err != nil {
				t.Fatal(err)
			}
			ours, err := p.Sign(testMsg)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, name+".ours"), ours, 0o600); err != nil {
				t.Fatal(err)
			}
			run("x509", "-in", name+".pem", "-pubkey", "-noout", "-out", name+".pub")
			run("dgst", "-sha256", "-verify", name+".pub", "-signature", name+".ours", "msg.bin")
		})
	}
}

// TestCacheHitStillChecksSignature makes sure the certificate cache never
// vouches for a message.
func TestCacheHitStillChecksSignature(t *testing.T) {
	ca := mustCA(t, "test CA", KeyECDSA)
	alice := mustIssue(t, ca, "alice.mcollective", IssueOptions{})
	p := verifier(t, ca, Config{})
	sig := mustSign(t, alice, testMsg)
	if _, err := p.VerifyRequest(testMsg, sig, alice.CertPEM, "choria=alice.mcollective"); err != nil {
		t.Fatal(err)
	}
	if n := p.st.Load().requests.len(); n != 1 {
		t.Fatalf("cache holds %d entries, want 1", n)
	}
	_, err := p.VerifyRequest(append(append([]byte{}, testMsg...), 'x'), sig, alice.CertPEM, "choria=alice.mcollective")
	wantRefusal(t, err, protocol.KindSignature, "is invalid")
	_, err = p.VerifyRequest(testMsg, sig, alice.CertPEM, "choria=bob.mcollective")
	wantRefusal(t, err, protocol.KindCaller, "not bob.mcollective")
}

// TestCacheEntryExpiresWithCertificate: a cached chain is not used past
// the certificate's NotAfter.
func TestCacheEntryExpiresWithCertificate(t *testing.T) {
	ca := mustCA(t, "test CA", KeyECDSA)
	alice := mustIssue(t, ca, "alice.mcollective", IssueOptions{Validity: time.Hour})
	clock := newTestClock(time.Now())
	p := verifier(t, ca, Config{Now: clock.Now})
	sig := mustSign(t, alice, testMsg)
	if _, err := p.VerifyRequest(testMsg, sig, alice.CertPEM, "choria=alice.mcollective"); err != nil {
		t.Fatal(err)
	}
	clock.add(2 * time.Hour)
	_, err := p.VerifyRequest(testMsg, sig, alice.CertPEM, "choria=alice.mcollective")
	wantRefusal(t, err, protocol.KindCertificate, "expired at")
}

func TestCertCacheBounded(t *testing.T) {
	c := newCertCache(8, 0)
	now := time.Now()
	for i := 0; i < 100; i++ {
		var k [32]byte
		k[0], k[1] = byte(i), byte(i>>8)
		c.put(k, &certEntry{notBefore: now.Add(-time.Hour), notAfter: now.Add(time.Hour)}, now)
		if c.len() > 8 {
			t.Fatalf("cache grew to %d entries, max 8", c.len())
		}
	}
	var last [32]byte
	last[0] = 99
	if c.get(last, now) == nil {
		t.Fatal("most recent entry was evicted")
	}
	if c.get(last, now.Add(2*time.Hour)) != nil {
		t.Fatal("entry served after its notAfter")
	}
}
