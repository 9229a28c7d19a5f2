package x509

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	stdx509 "crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/connector/protocol"
)

// requestCase is one VerifyRequest call and its expected outcome.
type requestCase struct {
	name     string
	cfg      Config
	msg      []byte // signed and sent when sent is nil
	sent     []byte // message as received, when it differs from msg
	signer   *Issued
	sig      []byte // overrides the signature
	pubcert  []byte // overrides signer.CertPEM
	callerID string
	// wantKind "" means success; then wantCaller checks the result.
	wantKind   protocol.Kind
	wantReason string
	wantPriv   bool
}

// reqCerts are the certificates of TestVerifyRequest, all from ca unless
// named otherwise.
type reqCerts struct {
	ca                                  *CA
	alice, aliceRSA, aliceEd            *Issued
	mallory                             *Issued // alice.mcollective from another CA
	expired, future, weak, revoked      *Issued
	bobExample, signer, privBySAN, mail *Issued
	sanPriv                             *Issued // mallory.mcollective with SAN x.privileged.mcollective
	noSAN, serverOnly, noEKU, viaInter  *Issued
	crlPath                             string
	chainPEM, tampered                  []byte
}

func newReqCerts(t *testing.T) *reqCerts {
	now := time.Now()
	ca := mustCA(t, "test CA", KeyECDSA)
	c := &reqCerts{ca: ca}
	c.alice = mustIssue(t, ca, "alice.mcollective", IssueOptions{})
	c.aliceRSA = mustIssue(t, ca, "alice.mcollective", IssueOptions{KeyType: KeyRSA})
	c.aliceEd = mustIssue(t, ca, "alice.mcollective", IssueOptions{KeyType: KeyEd25519})
	c.mallory = mustIssue(t, mustCA(t, "other CA", KeyECDSA), "alice.mcollective", IssueOptions{})
	c.expired = mustIssue(t, ca, "alice.mcollective", IssueOptions{NotBefore: now.Add(-3 * time.Hour), Validity: time.Hour})
	c.future = mustIssue(t, ca, "alice.mcollective", IssueOptions{NotBefore: now.Add(time.Hour)})
	c.bobExample = mustIssue(t, ca, "bob.example", IssueOptions{})
	c.signer = mustIssue(t, ca, "aaasvc.privileged.mcollective", IssueOptions{})
	c.privBySAN = mustIssue(t, ca, "aaasvc.example", IssueOptions{SANs: []string{"aaasvc.privileged.choria"}})
	c.sanPriv = mustIssue(t, ca, "mallory.mcollective", IssueOptions{SANs: []string{"x.privileged.mcollective"}})
	c.mail = mustIssue(t, ca, "carol.mcollective", IssueOptions{SANs: []string{"carol@example.net"}})
	c.revoked = mustIssue(t, ca, "alice.mcollective", IssueOptions{})
	c.crlPath = writeCRL(t, t.TempDir(), ca, c.revoked.Cert)
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	c.weak = mustIssue(t, ca, "alice.mcollective", IssueOptions{Key: rsa1024})
	c.noSAN = issueTemplate(t, ca, leafTemplate("alice.mcollective", nil, stdx509.ExtKeyUsageClientAuth), mustKey(t, KeyECDSA))
	c.serverOnly = issueTemplate(t, ca, leafTemplate("alice.mcollective", []string{"alice.mcollective"}, stdx509.ExtKeyUsageServerAuth), mustKey(t, KeyECDSA))
	c.noEKU = issueTemplate(t, ca, leafTemplate("alice.mcollective", []string{"alice.mcollective"}), mustKey(t, KeyECDSA))
	inter := mustIntermediate(t, ca, "test intermediate")
	c.viaInter = mustIssue(t, inter, "dave.mcollective", IssueOptions{})
	c.chainPEM = append(append([]byte{}, c.viaInter.CertPEM...), inter.CertPEM...)
	c.tampered = append(append([]byte{}, testMsg...), ' ')
	return c
}

// leafTemplate is a leaf for cn with the given DNS SANs and extended key
// usages (none: no EKU extension).
func leafTemplate(cn string, dns []string, eku ...stdx509.ExtKeyUsage) *stdx509.Certificate {
	return &stdx509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		DNSNames:    dns,
		KeyUsage:    stdx509.KeyUsageDigitalSignature,
		ExtKeyUsage: eku,
	}
}

func TestVerifyRequest(t *testing.T) {
	c := newReqCerts(t)
	cases := []requestCase{
		{name: "ecdsa ok", signer: c.alice, callerID: "choria=alice.mcollective"},
		{name: "rsa ok", signer: c.aliceRSA, callerID: "choria=alice.mcollective"},
		{name: "ed25519 ok", signer: c.aliceEd, callerID: "choria=alice.mcollective"},
		{name: "leaf without EKU ok", signer: c.noEKU, callerID: "choria=alice.mcollective"},
		{name: "email SAN ok", signer: c.mail, callerID: "choria=email:carol@example.net",
			cfg: Config{CertnameAllow: []string{`/@example\.net$/`}}},
		{name: "intermediate in pubcert ok", signer: c.viaInter, pubcert: c.chainPEM, callerID: "choria=dave.mcollective"},
		{name: "intermediate missing", signer: c.viaInter, callerID: "choria=dave.mcollective",
			wantKind: protocol.KindCertificate, wantReason: `certificate for "dave.mcollective" is not signed by the configured CA`},
		{name: "other CA", signer: c.mallory, callerID: "choria=alice.mcollective",
			wantKind: protocol.KindCertificate, wantReason: `certificate for "alice.mcollective" is not signed by the configured CA`},
		{name: "expired", signer: c.expired, callerID: "choria=alice.mcollective",
			wantKind: protocol.KindCertificate, wantReason: `certificate for "alice.mcollective" expired at`},
		{name: "not yet valid", signer: c.future, callerID: "choria=alice.mcollective",
			wantKind: protocol.KindCertificate, wantReason: "is not valid before"},
		{name: "name mismatch", signer: c.alice, callerID: "choria=bob.mcollective",
			wantKind: protocol.KindCaller, wantReason: "certificate is valid for alice.mcollective, not bob.mcollective"},
		{name: "name differs in case", signer: c.alice, callerID: "choria=ALICE.mcollective",
			wantKind: protocol.KindCaller, wantReason: "not ALICE.mcollective"},
		{name: "trailing junk", signer: c.alice, callerID: "choria=alice.mcollective/x",
			wantKind: protocol.KindCaller, wantReason: "is not of the form kind=name"},
		{name: "trailing newline", signer: c.alice, callerID: "choria=alice.mcollective\n",
			wantKind: protocol.KindCaller, wantReason: "is not of the form kind=name"},
		{name: "leading junk", signer: c.alice, callerID: "x cert=alice.mcollective",
			wantKind: protocol.KindCaller, wantReason: "is not of the form kind=name"},
		{name: "xcert style", signer: c.alice, callerID: "xcert=alice",
			wantKind: protocol.KindCaller, wantReason: "not alice"},
		{name: "empty callerid", signer: c.alice, callerID: "",
			wantKind: protocol.KindCaller, wantReason: "is not of the form kind=name"},
		{name: "not on allow list", signer: c.bobExample, callerID: "choria=bob.example",
			wantKind: protocol.KindCaller, wantReason: `callerid "choria=bob.example" certificate name "bob.example" does not match the allowed list`},
		{name: "custom allow list", signer: c.bobExample, callerID: "choria=bob.example",
			cfg: Config{CertnameAllow: []string{`/\.example$/`}}},
		{name: "privileged asserts another caller", signer: c.signer, callerID: "up=bob", wantPriv: true},
		{name: "a privileged-looking DNS SAN is not privileged", signer: c.privBySAN, callerID: "choria=bob.mcollective",
			wantKind: protocol.KindCaller, wantReason: "certificate is valid for aaasvc.example, aaasvc.privileged.choria, not bob.mcollective"},
		{name: "mallory with a privileged SAN asserts another caller", signer: c.sanPriv, callerID: "choria=bob.mcollective",
			wantKind: protocol.KindCaller, wantReason: "not bob.mcollective"},
		{name: "mallory with a privileged SAN asserts the SAN", signer: c.sanPriv, callerID: "up=x.privileged.mcollective",
			wantPriv: false},
		{name: "mallory with a privileged SAN is herself", signer: c.sanPriv, callerID: "choria=mallory.mcollective"},
		{name: "privileged kind allowed", signer: c.signer, callerID: "up=bob", wantPriv: true,
			cfg: Config{PrivilegedCallerKinds: []string{"up"}}},
		{name: "privileged kind restricted", signer: c.signer, callerID: "choria=alice.mcollective",
			cfg:      Config{PrivilegedCallerKinds: []string{"up"}},
			wantKind: protocol.KindCaller, wantReason: `kind "choria" is not in privileged_caller_kinds (up)`},
		{name: "privileged still needs well-formed callerid", signer: c.signer, callerID: "up=bob/x",
			wantKind: protocol.KindCaller, wantReason: "is not of the form kind=name"},
		{name: "non-privileged asserts another caller", signer: c.alice, callerID: "up=bob",
			wantKind: protocol.KindCaller, wantReason: "certificate is valid for alice.mcollective, not bob"},
		{name: "tampered message", signer: c.alice, sent: c.tampered, callerID: "choria=alice.mcollective",
			wantKind: protocol.KindSignature, wantReason: `request signature by certificate "alice.mcollective"`},
		{name: "signature by another key", signer: c.alice, sig: mustSign(t, c.aliceRSA, testMsg), callerID: "choria=alice.mcollective",
			wantKind: protocol.KindSignature, wantReason: "is invalid"},
		{name: "empty signature", signer: c.alice, sig: []byte{}, callerID: "choria=alice.mcollective",
			wantKind: protocol.KindSignature, wantReason: "is invalid"},
		{name: "rsa 1024 refused", signer: c.weak, callerID: "choria=alice.mcollective",
			wantKind: protocol.KindCertificate, wantReason: "has an unacceptable key"},
		{name: "crl revoked leaf", signer: c.revoked, callerID: "choria=alice.mcollective", cfg: Config{CRLFile: c.crlPath},
			wantKind: protocol.KindCertificate, wantReason: `certificate for "alice.mcollective" is revoked`},
		{name: "crl other leaf ok", signer: c.alice, callerID: "choria=alice.mcollective", cfg: Config{CRLFile: c.crlPath}},
		{name: "no SAN refused", signer: c.noSAN, callerID: "choria=alice.mcollective",
			wantKind: protocol.KindCertificate, wantReason: "has no subject alternative name"},
		{name: "no SAN legacy ok", signer: c.noSAN, callerID: "choria=alice.mcollective", cfg: Config{AllowLegacyCerts: true}},
		{name: "server auth only", signer: c.serverOnly, callerID: "choria=alice.mcollective",
			wantKind: protocol.KindCertificate, wantReason: "is not valid for client authentication"},
		{name: "insecure pubcert", signer: c.alice, pubcert: []byte("insecure"), callerID: "choria=alice.mcollective",
			wantKind: protocol.KindCertificate, wantReason: "pubcert is not a PEM certificate chain"},
		{name: "private key as pubcert", signer: c.alice, pubcert: c.alice.KeyPEM, callerID: "choria=alice.mcollective",
			wantKind: protocol.KindCertificate, wantReason: "pubcert is not a PEM certificate chain"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { runRequestCase(t, c.ca, tc) })
	}
}

func runRequestCase(t *testing.T, ca *CA, tc requestCase) {
	p := verifier(t, ca, tc.cfg)
	msg := tc.msg
	if msg == nil {
		msg = testMsg
	}
	sig := tc.sig
	if sig == nil {
		sig = mustSign(t, tc.signer, msg)
	}
	pubcert := tc.pubcert
	if pubcert == nil {
		pubcert = tc.signer.CertPEM
	}
	sent := tc.sent
	if sent == nil {
		sent = msg
	}
	// Twice: the second call is served from the certificate cache and
	// must reach the same verdict.
	for i := 0; i < 2; i++ {
		caller, err := p.VerifyRequest(sent, sig, pubcert, tc.callerID)
		if tc.wantKind != "" {
			wantRefusal(t, err, tc.wantKind, tc.wantReason)
			continue
		}
		if err != nil {
			t.Fatalf("call %d: VerifyRequest: %v", i+1, err)
		}
		want := sha256.Sum256(tc.signer.Cert.Raw)
		if caller.CallerID != tc.callerID || caller.CertName != tc.signer.Cert.Subject.CommonName ||
			caller.Privileged != tc.wantPriv || caller.Fingerprint != want {
			t.Fatalf("caller = %+v, want callerid %q certname %q privileged %v",
				caller, tc.callerID, tc.signer.Cert.Subject.CommonName, tc.wantPriv)
		}
	}
}

func TestVerifyReply(t *testing.T) {
	ca := mustCA(t, "test CA", KeyECDSA)
	other := mustCA(t, "other CA", KeyECDSA)
	node := mustIssue(t, ca, "node001.example.net", IssueOptions{})
	forged := mustIssue(t, other, "node001.example.net", IssueOptions{})
	serverOnly := issueTemplate(t, ca, &stdx509.Certificate{
		Subject:     pkix.Name{CommonName: "node002.example.net"},
		DNSNames:    []string{"node002.example.net"},
		KeyUsage:    stdx509.KeyUsageDigitalSignature,
		ExtKeyUsage: []stdx509.ExtKeyUsage{stdx509.ExtKeyUsageServerAuth},
	}, mustKey(t, KeyECDSA))
	codeSigning := issueTemplate(t, ca, &stdx509.Certificate{
		Subject:     pkix.Name{CommonName: "node003.example.net"},
		DNSNames:    []string{"node003.example.net"},
		KeyUsage:    stdx509.KeyUsageDigitalSignature,
		ExtKeyUsage: []stdx509.ExtKeyUsage{stdx509.ExtKeyUsageCodeSigning},
	}, mustKey(t, KeyECDSA))
	reply := []byte(`{"protocol":"choria:reply:1","message":"pong"}`)
	p := verifier(t, ca, Config{})

	tests := []struct {
		name       string
		signer     *Issued
		sent       []byte
		sender     string
		wantKind   protocol.Kind
		wantReason string
	}{
		{name: "ok", signer: node, sender: "node001.example.net"},
		{name: "server auth only ok", signer: serverOnly, sender: "node002.example.net"},
		{name: "other node's certificate", signer: node, sender: "node009.example.net",
			wantKind: protocol.KindCaller, wantReason: `reply from "node009.example.net" is signed by a certificate valid for node001.example.net`},
		{name: "other CA", signer: forged, sender: "node001.example.net",
			wantKind: protocol.KindCertificate, wantReason: "is not signed by the configured CA"},
		{name: "wrong usage", signer: codeSigning, sender: "node003.example.net",
			wantKind: protocol.KindCertificate, wantReason: "is not valid for server or client authentication"},
		{name: "tampered", signer: node, sent: []byte(`{"protocol":"choria:reply:1","message":"pwnd"}`), sender: "node001.example.net",
			wantKind: protocol.KindSignature, wantReason: `reply signature by "node001.example.net" is invalid`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sig := mustSign(t, tc.signer, reply)
			sent := tc.sent
			if sent == nil {
				sent = reply
			}
			for i := 0; i < 2; i++ {
				err := p.VerifyReply(sent, sig, tc.signer.CertPEM, tc.sender)
				if tc.wantKind == "" {
					if err != nil {
						t.Fatalf("VerifyReply: %v", err)
					}
					continue
				}
				wantRefusal(t, err, tc.wantKind, tc.wantReason)
			}
		})
	}
}

func TestParseCallerID(t *testing.T) {
	tests := []struct {
		in         string
		kind, name string
		ok         bool
	}{
		{"choria=anchor.mcollective", "choria", "anchor.mcollective", true},
		{"up=bob", "up", "bob", true},
		{"cert=a_b-c.D9", "cert", "a_b-c.D9", true},
		{"choria=email:bob+ops@example.net", "choria", "email:bob+ops@example.net", true},
		{"choria=bob.mcollective/x", "", "", false},
		{"choria=bob mcollective", "", "", false},
		{"Choria=bob", "", "", false},
		{"=bob", "", "", false},
		{"choria=", "", "", false},
		{"choria", "", "", false},
		{"choria==bob", "", "", false},
		{"choria=email:bob", "", "", false},
		{"choria=email:@x", "", "", false},
		{"choria=email:bob@", "", "", false},
		{"choria=email:bob@x@y", "", "", false},
		{"choria=bob\x00", "", "", false},
		{"up=bób", "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			kind, name, ok := parseCallerID(tc.in)
			if ok != tc.ok || kind != tc.kind || name != tc.name {
				t.Fatalf("parseCallerID(%q) = %q, %q, %v; want %q, %q, %v", tc.in, kind, name, ok, tc.kind, tc.name, tc.ok)
			}
		})
	}
}

// A client keeps the certificates of a fleet larger than the request
// cache: 5,000 nodes' replies leave 5,000 cached chains, so the next
// reply from any of them costs one signature check, not two.
func TestReplyCacheHoldsAFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("issues 5,000 certificates")
	}
	const nodes = 5000
	ca := mustCA(t, "fleet CA", KeyEd25519)
	key := mustKey(t, KeyEd25519)
	p := verifier(t, ca, Config{})
	for i := 0; i < nodes; i++ {
		name := fmt.Sprintf("emu-%05d.example.net", i)
		is := mustIssue(t, ca, name, IssueOptions{Key: key})
		sig, err := SignWith(key, testMsg)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.VerifyReply(testMsg, sig, is.CertPEM, name); err != nil {
			t.Fatal(err)
		}
	}
	if n := p.st.Load().replies.len(); n != nodes {
		t.Fatalf("reply cache holds %d of %d node certificates", n, nodes)
	}
}

// A client's reply cache keeps every node of a 50,000-node fleet (the
// size tutti bench measures through a broker cluster): a bound below
// the fleet evicts half of it whenever it fills, and those replies pay a
// chain verification again.
func TestReplyCacheHoldsFiftyThousand(t *testing.T) {
	const nodes = 50000
	c := newCertCache(replyCacheSize, 0)
	now := time.Now()
	for i := range nodes {
		var k [32]byte
		binary.BigEndian.PutUint32(k[:], uint32(i))
		c.put(k, &certEntry{key: k, notBefore: now.Add(-time.Hour), notAfter: now.Add(time.Hour)}, now)
	}
	if n := c.len(); n != nodes {
		t.Fatalf("reply cache holds %d of %d node certificates", n, nodes)
	}
}
