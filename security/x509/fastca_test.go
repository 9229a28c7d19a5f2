package x509

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	stdx509 "crypto/x509"
	"crypto/x509/pkix"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The fast path's CA signature check (fastCA.signed, the CA half in
// mayIssue) against crypto/x509's CheckSignatureFrom. The agreement with
// the whole of Verify is TestFastChainAgreesWithVerify and FuzzFastChain.

// mustP384 generates an ECDSA P-384 key, which GenerateKey does not make.
func mustP384(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// flipSignature returns c as PEM with bit i of its signature flipped;
// i < 0 counts from the end (-1 is the last bit). The signature is the
// last bytes of the DER, so the certificate still parses.
func flipSignature(t testing.TB, c *stdx509.Certificate, i int) []byte {
	t.Helper()
	return pemBlock("CERTIFICATE", flipSignatureDER(t, c, i))
}

func flipSignatureDER(t testing.TB, c *stdx509.Certificate, i int) []byte {
	t.Helper()
	raw := bytes.Clone(c.Raw)
	off := len(raw) - len(c.Signature)
	if off < 0 || !bytes.Equal(raw[off:], c.Signature) {
		t.Fatal("the signature is not at the end of the certificate")
	}
	n := len(c.Signature) * 8
	i = ((i % n) + n) % n
	raw[off+i/8] ^= 0x80 >> (i % 8)
	return raw
}

// tamperTBS returns c as PEM with the first from in its signed part
// replaced by to, of the same length.
func tamperTBS(t testing.TB, c *stdx509.Certificate, from, to string) []byte {
	t.Helper()
	raw := bytes.Clone(c.Raw)
	tbs := bytes.Index(raw, c.RawTBSCertificate)
	at := bytes.Index(c.RawTBSCertificate, []byte(from))
	if len(from) != len(to) || tbs < 0 || at < 0 {
		t.Fatalf("cannot replace %q in the certificate", from)
	}
	copy(raw[tbs+at:], to)
	return pemBlock("CERTIFICATE", raw)
}

func mustParse(t testing.TB, der []byte) *stdx509.Certificate {
	t.Helper()
	c, err := stdx509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestFastCASignedAgrees flips every bit of the CA's signature on a leaf,
// and bits across its signed part, and requires fastCA.signed to give
// CheckSignatureFrom's answer, for a P-256 CA (the p256 table, SHA-256
// and SHA-384 leaves), a P-384, an Ed25519 and an RSA CA.
func TestFastCASignedAgrees(t *testing.T) {
	p256CA := mustCA(t, "P-256 CA", KeyECDSA)
	cas := []struct {
		name   string
		ca     *CA
		sigAlg stdx509.SignatureAlgorithm
		table  bool // fastCA.signed uses the p256 table
	}{
		{"P-256/SHA-256", p256CA, stdx509.ECDSAWithSHA256, true},
		{"P-256/SHA-384", p256CA, stdx509.ECDSAWithSHA384, false},
		{"P-384", rootCAKey(t, &stdx509.Certificate{Subject: pkix.Name{CommonName: "P-384 CA"}, IsCA: true,
			BasicConstraintsValid: true, KeyUsage: stdx509.KeyUsageCertSign}, mustP384(t)), 0, false},
		{"Ed25519", mustCA(t, "Ed25519 CA", KeyEd25519), 0, false},
		{"RSA", mustCA(t, "RSA CA", KeyRSA), 0, false},
	}
	for _, tc := range cas {
		t.Run(tc.name, func(t *testing.T) {
			f := newFastCAs([]*stdx509.Certificate{tc.ca.Cert})[string(tc.ca.Cert.RawSubject)]
			if f == nil {
				t.Fatal("CA not on the fast path")
			}
			tmpl := leafTmpl(tc.ca, "node1.example.net")
			tmpl.SignatureAlgorithm = tc.sigAlg
			leaf := issueTemplate(t, tc.ca, tmpl, mustKey(t, KeyECDSA)).Cert
			buildTable(t, f)
			if got := f.table.Load() != nil && leaf.SignatureAlgorithm == stdx509.ECDSAWithSHA256; got != tc.table {
				t.Fatalf("p256 table used = %v, want %v (%s)", got, tc.table, leaf.SignatureAlgorithm)
			}
			if !f.signed(leaf) {
				t.Fatal("untampered leaf refused")
			}
			check := func(t *testing.T, der []byte, what string) {
				c, err := stdx509.ParseCertificate(der)
				if err != nil {
					return // refused before any signature check
				}
				want := c.CheckSignatureFrom(tc.ca.Cert) == nil
				if got := f.signed(c); got != want {
					t.Fatalf("%s: signed = %v, CheckSignatureFrom = %v", what, got, want)
				}
				if want && !bytes.Equal(der, leaf.Raw) {
					t.Fatalf("%s: a tampered certificate verifies", what)
				}
			}
			for i := range len(leaf.Signature) * 8 {
				check(t, flipSignatureDER(t, leaf, i), "signature bit "+strconv.Itoa(i))
			}
			tbs := bytes.Index(leaf.Raw, leaf.RawTBSCertificate)
			for i := 0; i < len(leaf.RawTBSCertificate); i += 3 {
				raw := bytes.Clone(leaf.Raw)
				raw[tbs+i] ^= 1 << (i % 8)
				check(t, raw, "TBS byte "+strconv.Itoa(i))
			}
		})
	}
}

// TestNewFastCAs checks which configured CAs the fast path may take as
// an issuer, and that only a P-256 CA gets a table: a CA that
// CheckSignatureFrom refuses as a parent issues nothing on the fast path.
func TestNewFastCAs(t *testing.T) {
	ca := func(name string, tmpl *stdx509.Certificate) *CA {
		tmpl.Subject = pkix.Name{CommonName: name}
		return rootCA(t, tmpl)
	}
	cases := []struct {
		ca          *CA
		fast, table bool
	}{
		{mustCA(t, "P-256 CA", KeyECDSA), true, true},
		{rootCAKey(t, &stdx509.Certificate{Subject: pkix.Name{CommonName: "P-384 CA"}, IsCA: true,
			BasicConstraintsValid: true, KeyUsage: stdx509.KeyUsageCertSign}, mustP384(t)), true, false},
		{mustCA(t, "Ed25519 CA", KeyEd25519), true, false},
		{mustCA(t, "RSA CA", KeyRSA), true, false},
		{ca("no key usage", &stdx509.Certificate{IsCA: true, BasicConstraintsValid: true}), true, true},
		{ca("no certSign", &stdx509.Certificate{IsCA: true, BasicConstraintsValid: true,
			KeyUsage: stdx509.KeyUsageDigitalSignature | stdx509.KeyUsageCRLSign}), false, false},
		{ca("not a CA", &stdx509.Certificate{BasicConstraintsValid: true, KeyUsage: stdx509.KeyUsageCertSign}), false, false},
		{ca("v3 without basic constraints", &stdx509.Certificate{KeyUsage: stdx509.KeyUsageCertSign}), false, false},
	}
	var all []*stdx509.Certificate
	for _, c := range cases {
		all = append(all, c.ca.Cert)
	}
	fast := newFastCAs(all)
	for _, c := range cases {
		f := fast[string(c.ca.Cert.RawSubject)]
		if (f != nil) != c.fast || (f != nil && (f.pub != nil) != c.table) {
			t.Errorf("%s: on the fast path = %v (table %v), want %v (table %v)", c.ca.Cert.Subject.CommonName,
				f != nil, f != nil && f.pub != nil, c.fast, c.table)
		}
		if ok := issueOK(t, c.ca); (f != nil) != ok {
			t.Errorf("%s: on the fast path = %v, but CheckSignatureFrom accepts its leaves = %v",
				c.ca.Cert.Subject.CommonName, f != nil, ok)
		}
	}
}

// issueOK reports whether CheckSignatureFrom accepts a leaf issued by ca.
func issueOK(t testing.TB, ca *CA) bool {
	t.Helper()
	leaf := issueTemplate(t, ca, leafTmpl(ca, "node1.example.net"), mustKey(t, KeyEd25519))
	return leaf.Cert.CheckSignatureFrom(ca.Cert) == nil
}

// TestFastCAReload replaces the CA file with a CA of the same name and
// another P-256 key: after Reload the fast path must check signatures
// with the new key's table, accepting the new CA's leaves and leaving
// the old CA's to Verify, which refuses them.
func TestFastCAReload(t *testing.T) {
	oldCA, newCA := mustCA(t, "fleet CA", KeyECDSA), mustCA(t, "fleet CA", KeyECDSA)
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, oldCA.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := New(Config{CAFile: path})
	if err != nil {
		t.Fatal(err)
	}
	oldLeaf := mustIssue(t, oldCA, "node1.example.net", IssueOptions{})
	newLeaf := mustIssue(t, newCA, "node1.example.net", IssueOptions{})
	now := time.Now()
	check := func(is *Issued, wantOK bool) {
		t.Helper()
		st := p.st.Load()
		f := st.fast[string(is.Cert.RawIssuer)]
		if f == nil || f.pub == nil {
			t.Fatal("the CA is not a P-256 CA on the fast path")
		}
		buildTable(t, f)
		fastOK := st.directIssuer(is.Cert, forReply, now) != nil
		_, err := p.verifyChain(st, is.CertPEM, forReply, now)
		if fastOK != wantOK || (err == nil) != wantOK {
			t.Fatalf("fast path accepts = %v, verifyChain = %v; want accepted = %v", fastOK, err, wantOK)
		}
		if err != nil && !strings.Contains(err.Error(), "is not signed by the configured CA") {
			t.Fatalf("refusal = %v, want \"is not signed by the configured CA\"", err)
		}
	}
	check(oldLeaf, true)
	check(newLeaf, false)
	if err := os.WriteFile(path, newCA.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.Reload(); err != nil {
		t.Fatal(err)
	}
	check(oldLeaf, false)
	check(newLeaf, true)
}

// buildTable makes f build its comb table as its caTableAfter-th leaf
// check would, and fails if a P-256 CA then has none.
func buildTable(t *testing.T, f *fastCA) {
	t.Helper()
	for range caTableAfter {
		f.comb()
	}
	if f.pub != nil && f.table.Load() == nil {
		t.Fatal("no comb table after caTableAfter leaves")
	}
}

// TestFastCATableLazy pins that a P-256 CA's table is built on the
// caTableAfter-th leaf, not before (a node checking a few callers never
// pays for it), and that the answers are the same before and after.
func TestFastCATableLazy(t *testing.T) {
	ca := mustCA(t, "P-256 CA", KeyECDSA)
	f := newFastCAs([]*stdx509.Certificate{ca.Cert})[string(ca.Cert.RawSubject)]
	good := mustIssue(t, ca, "node1.example.net", IssueOptions{}).Cert
	other := mustIssue(t, mustCA(t, "P-256 CA", KeyECDSA), "node1.example.net", IssueOptions{}).Cert
	for i := 1; i <= caTableAfter+2; i++ {
		if !f.signed(good) {
			t.Fatalf("leaf %d: good leaf refused", i)
		}
		if f.signed(other) {
			t.Fatalf("leaf %d: a leaf of another CA with the same name accepted", i)
		}
		built := f.table.Load() != nil
		if want := 2*i >= caTableAfter; built != want {
			t.Fatalf("after %d leaf checks: table built = %v, want %v", 2*i, built, want)
		}
	}
}
