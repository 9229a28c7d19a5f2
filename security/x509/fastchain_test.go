package x509

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	stdx509 "crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"testing"
	"time"
)

// rootCA makes a self-signed CA from tmpl (CA shapes NewCA does not make).
func rootCA(t testing.TB, tmpl *stdx509.Certificate) *CA {
	t.Helper()
	return rootCAKey(t, tmpl, mustKey(t, KeyECDSA))
}

// rootCAKey is rootCA with a key of the caller's choice.
func rootCAKey(t testing.TB, tmpl *stdx509.Certificate, key crypto.Signer) *CA {
	t.Helper()
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
		tmpl.NotAfter = time.Now().Add(48 * time.Hour)
	}
	tmpl.SubjectKeyId = keyID(key.Public())
	der, err := stdx509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := stdx509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Cert: cert, CertPEM: pemBlock("CERTIFICATE", der), Key: key}
}

// leafTmpl is what CA.Issue makes, for variations.
func leafTmpl(ca *CA, name string) *stdx509.Certificate {
	return &stdx509.Certificate{
		Subject:        pkix.Name{CommonName: name},
		DNSNames:       []string{name},
		KeyUsage:       stdx509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []stdx509.ExtKeyUsage{stdx509.ExtKeyUsageServerAuth, stdx509.ExtKeyUsageClientAuth},
		AuthorityKeyId: ca.Cert.SubjectKeyId,
	}
}

type chainCase struct {
	name     string
	pool     []*CA  // the CA file
	pubcert  []byte // what the peer sends
	revoke   *stdx509.Certificate
	revoker  *CA
	at       time.Duration // now = time.Now() + at
	use      purpose
	wantFast bool // the fast path must accept
	wantOK   bool
	// agreeOnly checks only that both paths agree (and that the fast
	// path never accepts what Verify refuses), not wantFast and wantOK.
	agreeOnly bool
}

// TestFastChainAgreesWithVerify runs every certificate through the fast
// path and through crypto/x509's Verify alone and requires the same
// verdict: the same error text on a refusal, the same name, fingerprint
// and validity bounds on success. It also checks that the fast path is
// taken exactly where it should be.
func TestFastChainAgreesWithVerify(t *testing.T) {
	ca := mustCA(t, "fleet CA", KeyECDSA)
	other := mustCA(t, "other CA", KeyECDSA)
	impostor := mustCA(t, "fleet CA", KeyECDSA) // same name, other key
	rollover := mustCA(t, "fleet CA", KeyECDSA)
	inter := mustIntermediate(t, ca, "fleet intermediate")
	short := rootCA(t, &stdx509.Certificate{Subject: pkix.Name{CommonName: "short CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: stdx509.KeyUsageCertSign,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(2 * time.Hour)})
	notCA := rootCA(t, &stdx509.Certificate{Subject: pkix.Name{CommonName: "not a CA"},
		BasicConstraintsValid: true, IsCA: false, KeyUsage: stdx509.KeyUsageDigitalSignature})
	noCertSign := rootCA(t, &stdx509.Certificate{Subject: pkix.Name{CommonName: "no certSign CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: stdx509.KeyUsageDigitalSignature})
	constrained := rootCA(t, &stdx509.Certificate{Subject: pkix.Name{CommonName: "constrained CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: stdx509.KeyUsageCertSign, PermittedDNSDomains: []string{"example.org"}})
	ekuCA := rootCA(t, &stdx509.Certificate{Subject: pkix.Name{CommonName: "server-only CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: stdx509.KeyUsageCertSign,
		ExtKeyUsage: []stdx509.ExtKeyUsage{stdx509.ExtKeyUsageServerAuth}})

	const name = "node1.example.net"
	issue := func(parent *CA, mod func(*stdx509.Certificate)) *Issued {
		tmpl := leafTmpl(parent, name)
		if mod != nil {
			mod(tmpl)
		}
		return issueTemplate(t, parent, tmpl, mustKey(t, KeyECDSA))
	}
	eku := func(u ...stdx509.ExtKeyUsage) func(*stdx509.Certificate) {
		return func(c *stdx509.Certificate) { c.ExtKeyUsage = u }
	}
	ext := func(critical bool) func(*stdx509.Certificate) {
		return func(c *stdx509.Certificate) {
			c.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}, Critical: critical, Value: []byte{5, 0}}}
		}
	}
	edCA := mustCA(t, "ed25519 CA", KeyEd25519)
	rsaCA := mustCA(t, "rsa CA", KeyRSA)
	p384CA := rootCAKey(t, &stdx509.Certificate{Subject: pkix.Name{CommonName: "P-384 CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: stdx509.KeyUsageCertSign}, mustP384(t))
	noBC := rootCA(t, &stdx509.Certificate{Subject: pkix.Name{CommonName: "no basic constraints"},
		KeyUsage: stdx509.KeyUsageCertSign})
	sha384 := func(c *stdx509.Certificate) { c.SignatureAlgorithm = stdx509.ECDSAWithSHA384 }
	good := issue(ca, nil)
	goodSHA384 := issue(ca, sha384)
	goodEd, goodRSA, goodP384 := issue(edCA, nil), issue(rsaCA, nil), issue(p384CA, nil)
	revoked := issue(ca, nil)
	ed := mustIssue(t, ca, name, IssueOptions{KeyType: KeyEd25519})
	rsa := mustIssue(t, ca, name, IssueOptions{KeyType: KeyRSA})
	viaInter := issue(inter, nil)
	pair := []*CA{ca}

	cases := []chainCase{
		{name: "direct ECDSA leaf for a reply", pool: pair, pubcert: good.CertPEM, use: forReply, wantFast: true, wantOK: true},
		{name: "direct ECDSA leaf for a request", pool: pair, pubcert: good.CertPEM, use: forRequest, wantFast: true, wantOK: true},
		{name: "direct Ed25519 leaf", pool: pair, pubcert: ed.CertPEM, wantFast: true, wantOK: true},
		{name: "direct RSA leaf", pool: pair, pubcert: rsa.CertPEM, wantFast: true, wantOK: true},
		{name: "CA file with other CAs", pool: []*CA{other, ca, short}, pubcert: good.CertPEM, wantFast: true, wantOK: true},
		{name: "expired leaf", pool: pair, pubcert: mustIssue(t, ca, name, IssueOptions{NotBefore: time.Now().Add(-48 * time.Hour), Validity: time.Hour}).CertPEM},
		{name: "not yet valid leaf", pool: pair, pubcert: mustIssue(t, ca, name, IssueOptions{NotBefore: time.Now().Add(time.Hour)}).CertPEM},
		{name: "expired CA", pool: []*CA{short}, pubcert: issue(short, nil).CertPEM, at: 3 * time.Hour},
		{name: "CA valid again later", pool: []*CA{short}, pubcert: issue(short, nil).CertPEM, at: time.Hour, wantFast: true, wantOK: true},
		{name: "wrong CA", pool: pair, pubcert: issue(other, nil).CertPEM},
		{name: "same CA name, other key", pool: pair, pubcert: issue(impostor, nil).CertPEM},
		{name: "two CAs of one name", pool: []*CA{ca, rollover}, pubcert: issue(rollover, nil).CertPEM, wantOK: true},
		{name: "codeSigning only", pool: pair, pubcert: issue(ca, eku(stdx509.ExtKeyUsageCodeSigning)).CertPEM},
		{name: "serverAuth only, reply", pool: pair, pubcert: issue(ca, eku(stdx509.ExtKeyUsageServerAuth)).CertPEM, use: forReply, wantFast: true, wantOK: true},
		{name: "serverAuth only, request", pool: pair, pubcert: issue(ca, eku(stdx509.ExtKeyUsageServerAuth)).CertPEM, use: forRequest},
		{name: "no extended key usage", pool: pair, pubcert: issue(ca, eku()).CertPEM, use: forRequest, wantFast: true, wantOK: true},
		{name: "anyExtendedKeyUsage", pool: pair, pubcert: issue(ca, eku(stdx509.ExtKeyUsageAny)).CertPEM, use: forRequest, wantFast: true, wantOK: true},
		{name: "unknown extended key usage only", pool: pair, pubcert: issue(ca, func(c *stdx509.Certificate) {
			c.ExtKeyUsage = nil
			c.UnknownExtKeyUsage = []asn1.ObjectIdentifier{{1, 3, 6, 1, 4, 1, 99999, 2}}
		}).CertPEM},
		{name: "issuer is not a CA", pool: []*CA{notCA}, pubcert: issue(notCA, nil).CertPEM},
		{name: "issuer may not sign certificates", pool: []*CA{noCertSign}, pubcert: issue(noCertSign, nil).CertPEM},
		{name: "name constraints, name outside", pool: []*CA{constrained}, pubcert: issue(constrained, nil).CertPEM},
		{name: "name constraints, name inside", pool: []*CA{constrained}, pubcert: func() []byte {
			tmpl := leafTmpl(constrained, "node1.example.org")
			return issueTemplate(t, constrained, tmpl, mustKey(t, KeyECDSA)).CertPEM
		}(), wantOK: true},
		{name: "CA restricted to serverAuth, request", pool: []*CA{ekuCA}, pubcert: issue(ekuCA, nil).CertPEM, use: forRequest},
		{name: "CA restricted to serverAuth, reply", pool: []*CA{ekuCA}, pubcert: issue(ekuCA, nil).CertPEM, use: forReply, wantOK: true},
		{name: "intermediate sent along", pool: pair, pubcert: append(append([]byte{}, viaInter.CertPEM...), inter.CertPEM...), wantOK: true},
		{name: "intermediate missing", pool: pair, pubcert: viaInter.CertPEM},
		{name: "revoked leaf", pool: pair, pubcert: revoked.CertPEM, revoke: revoked.Cert, revoker: ca},
		{name: "another leaf revoked", pool: pair, pubcert: good.CertPEM, revoke: revoked.Cert, revoker: ca, wantFast: true, wantOK: true},
		{name: "unknown non-critical extension", pool: pair, pubcert: issue(ca, ext(false)).CertPEM, wantOK: true},
		{name: "unknown critical extension", pool: pair, pubcert: issue(ca, ext(true)).CertPEM},
		{name: "certificate policies", pool: pair, pubcert: issue(ca, func(c *stdx509.Certificate) {
			oid, err := stdx509.OIDFromInts([]uint64{1, 3, 6, 1, 4, 1, 99999, 3})
			if err != nil {
				t.Fatal(err)
			}
			c.Policies = []stdx509.OID{oid}
		}).CertPEM, wantOK: true},
		{name: "the CA itself", pool: pair, pubcert: ca.CertPEM},
		// The CA's signature: P-256 with SHA-256 is checked with the
		// CA's p256 table, everything else with CheckSignatureFrom. A
		// bad signature must leave the refusal to Verify.
		{name: "P-256 CA, signature tampered", pool: pair, pubcert: flipSignature(t, good.Cert, -1)},
		{name: "P-256 CA, signature tampered in r", pool: pair, pubcert: flipSignature(t, good.Cert, 8*8+3)},
		{name: "P-256 CA, TBS tampered", pool: pair, pubcert: tamperTBS(t, good.Cert, "node1", "node2")},
		{name: "P-256 CA, SHA-384 leaf", pool: pair, pubcert: goodSHA384.CertPEM, wantFast: true, wantOK: true},
		{name: "P-256 CA, SHA-384 leaf tampered", pool: pair, pubcert: flipSignature(t, goodSHA384.Cert, -1)},
		{name: "P-384 CA", pool: []*CA{p384CA}, pubcert: goodP384.CertPEM, wantFast: true, wantOK: true},
		{name: "P-384 CA, signature tampered", pool: []*CA{p384CA}, pubcert: flipSignature(t, goodP384.Cert, -1)},
		{name: "Ed25519 CA", pool: []*CA{edCA}, pubcert: goodEd.CertPEM, wantFast: true, wantOK: true},
		{name: "Ed25519 CA, signature tampered", pool: []*CA{edCA}, pubcert: flipSignature(t, goodEd.Cert, -1)},
		{name: "Ed25519 CA, TBS tampered", pool: []*CA{edCA}, pubcert: tamperTBS(t, goodEd.Cert, "node1", "node2")},
		{name: "RSA CA", pool: []*CA{rsaCA}, pubcert: goodRSA.CertPEM, wantFast: true, wantOK: true},
		{name: "RSA CA, signature tampered", pool: []*CA{rsaCA}, pubcert: flipSignature(t, goodRSA.Cert, -1)},
		{name: "RSA CA, TBS tampered", pool: []*CA{rsaCA}, pubcert: tamperTBS(t, goodRSA.Cert, "node1", "node2")},
		{name: "all CA kinds in one file", pool: []*CA{edCA, rsaCA, p384CA, ca}, pubcert: good.CertPEM, wantFast: true, wantOK: true},
		{name: "CA without basic constraints", pool: []*CA{noBC}, pubcert: issue(noBC, nil).CertPEM},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkBothPaths(t, c) })
	}
}

// TestFastChainCombinations crosses the leaf's extended key usages, its
// validity and the purpose, and requires both paths to agree on each.
func TestFastChainCombinations(t *testing.T) {
	ca := mustCA(t, "fleet CA", KeyECDSA)
	ekus := [][]stdx509.ExtKeyUsage{
		nil,
		{stdx509.ExtKeyUsageClientAuth},
		{stdx509.ExtKeyUsageServerAuth},
		{stdx509.ExtKeyUsageServerAuth, stdx509.ExtKeyUsageClientAuth},
		{stdx509.ExtKeyUsageCodeSigning},
		{stdx509.ExtKeyUsageEmailProtection, stdx509.ExtKeyUsageClientAuth},
		{stdx509.ExtKeyUsageAny},
	}
	starts := []time.Duration{-48 * time.Hour, -time.Hour, time.Hour}
	for i, u := range ekus {
		for _, nb := range starts {
			tmpl := leafTmpl(ca, "node1.example.net")
			tmpl.ExtKeyUsage = u
			tmpl.NotBefore = time.Now().Add(nb)
			tmpl.NotAfter = tmpl.NotBefore.Add(24 * time.Hour)
			is := issueTemplate(t, ca, tmpl, mustKey(t, KeyEd25519))
			for _, use := range []purpose{forRequest, forReply} {
				for _, at := range []time.Duration{0, 30 * time.Hour} {
					c := chainCase{name: fmt.Sprintf("eku%d/start%s/%s/at+%s", i, nb, use, at),
						pool: []*CA{ca}, pubcert: is.CertPEM, use: use, at: at, agreeOnly: true}
					t.Run(c.name, func(t *testing.T) { checkBothPaths(t, c) })
				}
			}
		}
	}
}

// checkBothPaths verifies c with and without the fast path.
func checkBothPaths(t *testing.T, c chainCase) {
	t.Helper()
	var caPEM []byte
	for _, ca := range c.pool {
		caPEM = append(caPEM, ca.CertPEM...)
	}
	cfg := Config{}
	if c.revoke != nil {
		cfg.CRLFile = writeCRL(t, t.TempDir(), c.revoker, c.revoke)
	}
	now := time.Now().Add(c.at)
	fast, full := verifierPEM(t, caPEM, cfg), verifierPEM(t, caPEM, cfg)
	full.fullChainOnly = true
	fe, ferr := fast.verifyChain(fast.st.Load(), c.pubcert, c.use, now)
	se, serr := full.verifyChain(full.st.Load(), c.pubcert, c.use, now)
	if (ferr == nil) != (serr == nil) || (ferr != nil && ferr.Error() != serr.Error()) {
		t.Fatalf("verdicts differ:\n fast path: %v\n Verify:    %v", ferr, serr)
	}
	if ferr == nil {
		if fe.name != se.name || fe.fingerprint != se.fingerprint || !fe.notBefore.Equal(se.notBefore) ||
			!fe.notAfter.Equal(se.notAfter) || fe.validFor() != se.validFor() {
			t.Fatalf("entries differ:\n fast path: %+v\n Verify:    %+v", fe, se)
		}
	}
	taken := false
	if ders, err := pemCertificates(c.pubcert); err == nil && len(ders) == 1 {
		// A certificate that does not parse (a fuzzed bit flip) was
		// refused by both paths above.
		if leaf, err := stdx509.ParseCertificate(ders[0]); err == nil {
			taken = fast.st.Load().directIssuer(leaf, c.use, now) != nil
		} else if ferr == nil {
			t.Fatalf("accepted a certificate that does not parse: %v", err)
		}
	}
	if c.agreeOnly {
		if taken && ferr != nil {
			t.Fatalf("fast path accepted what Verify refuses: %v", ferr)
		}
		return
	}
	if taken != c.wantFast {
		t.Errorf("fast path taken = %v, want %v", taken, c.wantFast)
	}
	if (ferr == nil) != c.wantOK {
		t.Errorf("accepted = %v (%v), want %v", ferr == nil, ferr, c.wantOK)
	}
}

func verifierPEM(t testing.TB, caPEM []byte, cfg Config) *Provider {
	t.Helper()
	p, err := NewFromPEM(nil, nil, caPEM, cfg)
	if err != nil {
		t.Fatalf("NewFromPEM: %v", err)
	}
	return p
}

// FuzzFastChain builds a leaf from fuzzed properties — issuer, extended
// key usages, validity, extra extensions, revocation — and requires the
// fast path and Verify to agree on it, for the fuzzed purpose and time.
func FuzzFastChain(f *testing.F) {
	ca := mustCA(f, "fleet CA", KeyECDSA)
	constrained := rootCA(f, &stdx509.Certificate{Subject: pkix.Name{CommonName: "constrained CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: stdx509.KeyUsageCertSign, PermittedDNSDomains: []string{"example.net"}})
	ekuCA := rootCA(f, &stdx509.Certificate{Subject: pkix.Name{CommonName: "client-only CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: stdx509.KeyUsageCertSign,
		ExtKeyUsage: []stdx509.ExtKeyUsage{stdx509.ExtKeyUsageClientAuth}})
	notCA := rootCA(f, &stdx509.Certificate{Subject: pkix.Name{CommonName: "not a CA"}, BasicConstraintsValid: true})
	v1 := rootCA(f, &stdx509.Certificate{Subject: pkix.Name{CommonName: "no basic constraints"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(3 * time.Hour)})
	noCertSign := rootCA(f, &stdx509.Certificate{Subject: pkix.Name{CommonName: "no certSign CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: stdx509.KeyUsageDigitalSignature})
	edCA, rsaCA := mustCA(f, "ed25519 CA", KeyEd25519), mustCA(f, "rsa CA", KeyRSA)
	issuers := []*CA{ca, constrained, ekuCA, notCA, v1, noCertSign, edCA, rsaCA}
	pool := issuers
	allEKU := []stdx509.ExtKeyUsage{stdx509.ExtKeyUsageAny, stdx509.ExtKeyUsageServerAuth, stdx509.ExtKeyUsageClientAuth,
		stdx509.ExtKeyUsageCodeSigning, stdx509.ExtKeyUsageEmailProtection, stdx509.ExtKeyUsageTimeStamping}

	// exts bit 16 signs an ECDSA CA's leaf with SHA-384 (CheckSignatureFrom
	// rather than the p256 table); flip != 0 flips a bit of the
	// certificate: of its signature when flip is odd, anywhere otherwise.
	f.Add(uint8(0), uint8(6), false, int8(-1), uint8(24), uint8(0), false, int8(0), false, uint16(0))
	f.Add(uint8(1), uint8(2), true, int8(-2), uint8(48), uint8(1), true, int8(30), false, uint16(0))
	f.Add(uint8(2), uint8(4), false, int8(1), uint8(1), uint8(2), false, int8(-5), true, uint16(0))
	f.Add(uint8(4), uint8(0), false, int8(-1), uint8(5), uint8(4), true, int8(2), false, uint16(0))
	f.Add(uint8(0), uint8(0), false, int8(-1), uint8(24), uint8(0), false, int8(0), false, uint16(1))
	f.Add(uint8(0), uint8(0), false, int8(-1), uint8(24), uint8(16), false, int8(0), false, uint16(0))
	f.Add(uint8(0), uint8(0), false, int8(-1), uint8(24), uint8(16), false, int8(0), false, uint16(77))
	f.Add(uint8(0), uint8(0), false, int8(-1), uint8(24), uint8(0), false, int8(0), false, uint16(800))
	f.Add(uint8(5), uint8(0), false, int8(-1), uint8(24), uint8(0), false, int8(0), false, uint16(0))
	f.Add(uint8(6), uint8(0), false, int8(-1), uint8(24), uint8(0), false, int8(0), false, uint16(3))
	f.Add(uint8(7), uint8(0), false, int8(-1), uint8(24), uint8(0), false, int8(0), false, uint16(5))
	f.Fuzz(func(t *testing.T, issuer, ekus uint8, unknownEKU bool, startHours int8, hours uint8,
		exts uint8, forReq bool, atHours int8, revoke bool, flip uint16) {
		parent := issuers[int(issuer)%len(issuers)]
		tmpl := leafTmpl(parent, "node1.example.net")
		tmpl.ExtKeyUsage = nil
		for i, u := range allEKU {
			if ekus&(1<<i) != 0 {
				tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, u)
			}
		}
		if unknownEKU {
			tmpl.UnknownExtKeyUsage = []asn1.ObjectIdentifier{{1, 3, 6, 1, 4, 1, 99999, 2}}
		}
		tmpl.NotBefore = time.Now().Add(time.Duration(startHours) * time.Hour)
		tmpl.NotAfter = tmpl.NotBefore.Add(time.Duration(hours)*time.Hour + time.Minute)
		if exts&1 != 0 {
			tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{
				Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}, Critical: exts&2 != 0, Value: []byte{5, 0}})
		}
		if exts&4 != 0 {
			oid, _ := stdx509.OIDFromInts([]uint64{2, 23, 140, 1, 2, 1})
			tmpl.Policies = []stdx509.OID{oid}
		}
		if exts&8 != 0 {
			tmpl.BasicConstraintsValid, tmpl.IsCA = true, true
		}
		if _, ok := parent.Key.Public().(*ecdsa.PublicKey); ok && exts&16 != 0 {
			tmpl.SignatureAlgorithm = stdx509.ECDSAWithSHA384
		}
		is := issueTemplate(t, parent, tmpl, mustKey(t, KeyEd25519))
		pubcert := is.CertPEM
		switch {
		case flip&1 != 0:
			pubcert = flipSignature(t, is.Cert, int(flip>>1))
		case flip != 0:
			raw := bytes.Clone(is.Cert.Raw)
			i := int(flip>>1) % (len(raw) * 8)
			raw[i/8] ^= 0x80 >> (i % 8)
			pubcert = pemBlock("CERTIFICATE", raw)
		}
		use := forReply
		if forReq {
			use = forRequest
		}
		c := chainCase{name: "fuzz", pool: pool, pubcert: pubcert, use: use,
			at: time.Duration(atHours) * time.Hour, agreeOnly: true}
		if revoke {
			c.revoke, c.revoker = is.Cert, ca
		}
		checkBothPaths(t, c)
	})
}
