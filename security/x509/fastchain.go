package x509

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	stdx509 "crypto/x509"
	"encoding/asn1"
	"slices"
	"sync/atomic"
	"time"

	"github.com/tuttifleet/tutti/security/p256"
)

// The fast path for a first contact.
//
// Nearly every certificate a node or client sees is a leaf issued
// directly by a configured CA, and the CA's signature on it is most of
// the cost of a first contact. The CA's key is the same for every leaf,
// so for an ECDSA P-256 CA the state builds a precomputed table for the
// key (package p256) once it has checked a few leaves, which then checks
// the signature in about half the time crypto/ecdsa takes for an
// arbitrary key. crypto/x509's Verify
// cannot use it, so directIssuer makes Verify's checks for that one
// chain shape itself (Verify's chain building, RFC 9618 policy graph and
// usage walk cost a further ~1.5 µs) and falls back to Verify for
// anything else.
//
// The fast path can only accept. Whenever it is not certain Verify would
// accept the same leaf with the chain [leaf, CA] — an intermediate, an
// extension it does not know, name constraints or policies, an extended
// key usage on the CA, more than one CA of that name, a signature or
// validity problem, a revoked leaf — it returns nil and the full
// verification decides, so every refusal keeps its exact message.
// TestFastChainAgreesWithVerify runs both paths on the same certificates.

// Extensions whose effect on Verify the fast path reproduces (or that
// Verify ignores). Anything else, critical or not — name constraints
// (2.5.29.30), certificate policies (2.5.29.32), policy mappings and
// constraints (2.5.29.33, .36), inhibit anyPolicy (2.5.29.54) — sends the
// certificate through the full verification.
var fastExtensions = []asn1.ObjectIdentifier{
	{2, 5, 29, 14},              // subject key identifier
	{2, 5, 29, 15},              // key usage (Verify ignores it; CheckSignatureFrom checks certSign)
	{2, 5, 29, 17},              // subject alternative name
	{2, 5, 29, 19},              // basic constraints
	{2, 5, 29, 31},              // CRL distribution points
	{2, 5, 29, 35},              // authority key identifier
	{2, 5, 29, 37},              // extended key usage
	{1, 3, 6, 1, 5, 5, 7, 1, 1}, // authority information access
}

// onlyFastExtensions reports whether every extension of c is in
// fastExtensions and crypto/x509 handled every critical one.
func onlyFastExtensions(c *stdx509.Certificate) bool {
	if len(c.UnhandledCriticalExtensions) > 0 {
		return false
	}
	for _, e := range c.Extensions {
		if !slices.ContainsFunc(fastExtensions, e.Id.Equal) {
			return false
		}
	}
	return true
}

// fastCAs indexes the configured CA certificates that may issue on the
// fast path, by raw subject. A subject held by two CA certificates (a CA
// rollover) maps to nil: Verify may then build either chain, so such
// leaves take the full path. So does a CA CheckSignatureFrom refuses as
// an issuer (see mayIssue): no leaf of it can verify.
type fastCAs map[string]*fastCA

// fastCA is a configured CA the fast path may take as a leaf's issuer.
type fastCA struct {
	cert *stdx509.Certificate
	// pub is the CA's key when it is ECDSA P-256, else nil. Its
	// signatures on ECDSA-with-SHA256 leaves are checked with a comb
	// table (package p256, 12 KB) from the caTableAfter-th leaf on.
	pub *ecdsa.PublicKey
	// leaves counts the leaf signatures checked before the table existed.
	leaves atomic.Uint32
	table  atomic.Pointer[p256.PublicKey]
}

// caTableAfter is the leaf signature check of a P-256 CA that builds
// its comb table. Building costs about two signature checks (~60 µs), so
// a node, which sees a few callers' certificates and then caches them,
// never builds one, and a client, which sees a certificate per node of
// the fleet, builds it on its fourth node.
const caTableAfter = 4

func newFastCAs(cas []*stdx509.Certificate) fastCAs {
	out := fastCAs{}
	for _, ca := range cas {
		subj := string(ca.RawSubject)
		if _, dup := out[subj]; dup {
			out[subj] = nil
			continue
		}
		// A CA with an extended key usage restricts its whole chain;
		// keep the usage walk to Verify.
		if !onlyFastExtensions(ca) || len(ca.ExtKeyUsage) > 0 || len(ca.UnknownExtKeyUsage) > 0 || !mayIssue(ca) {
			out[subj] = nil
			continue
		}
		f := &fastCA{cert: ca}
		if pub, ok := ca.PublicKey.(*ecdsa.PublicKey); ok && pub.Curve == elliptic.P256() {
			f.pub = pub
		}
		out[subj] = f
	}
	return out
}

// mayIssue makes, once per CA, the checks crypto/x509's
// CheckSignatureFrom makes on the parent before the signature: a
// version 3 certificate needs valid basic constraints, basic constraints
// must say CA, a key usage must include certSign, and the public key
// algorithm must be known.
func mayIssue(ca *stdx509.Certificate) bool {
	if ca.Version == 3 && !ca.BasicConstraintsValid || ca.BasicConstraintsValid && !ca.IsCA {
		return false
	}
	if ca.KeyUsage != 0 && ca.KeyUsage&stdx509.KeyUsageCertSign == 0 {
		return false
	}
	return ca.PublicKeyAlgorithm != stdx509.UnknownPublicKeyAlgorithm
}

// signed reports whether ca's key signed leaf. It is the signature half
// of leaf.CheckSignatureFrom(ca.cert), whose CA half mayIssue did: an
// ECDSA-with-SHA256 leaf under a P-256 CA is checked with the CA's comb
// table once it exists (about half the cost of crypto/ecdsa, the same
// answer — see package p256); everything else goes to
// CheckSignatureFrom.
func (ca *fastCA) signed(leaf *stdx509.Certificate) bool {
	if ca.pub != nil && leaf.SignatureAlgorithm == stdx509.ECDSAWithSHA256 {
		if k := ca.comb(); k != nil {
			h := sha256.Sum256(leaf.RawTBSCertificate)
			return k.VerifyASN1(h[:], leaf.Signature)
		}
	}
	return leaf.CheckSignatureFrom(ca.cert) == nil
}

// comb returns the CA key's table, or nil before the caTableAfter-th
// call, which builds it (one caller does; the others meanwhile use
// CheckSignatureFrom). A key p256 refuses never gets a table.
func (ca *fastCA) comb() *p256.PublicKey {
	if k := ca.table.Load(); k != nil {
		return k
	}
	if ca.leaves.Add(1) != caTableAfter {
		return nil
	}
	k, err := p256.NewPublicKey(ca.pub)
	if err != nil {
		return nil
	}
	ca.table.Store(k)
	return k
}

// directIssuer returns the configured CA that issued leaf when the fast
// path can establish that Verify would accept the chain [leaf, CA] for
// use at now and that the leaf is not revoked; otherwise nil.
func (st *state) directIssuer(leaf *stdx509.Certificate, use purpose, now time.Time) *stdx509.Certificate {
	f := st.fast[string(leaf.RawIssuer)]
	if f == nil || st.isCA(leaf) {
		// Verify returns a configured CA (f.cert among them) presented as a
		// leaf as a chain of its own.
		return nil
	}
	ca := f.cert
	if !onlyFastExtensions(leaf) || !usageAllowed(leaf, use) {
		return nil
	}
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) ||
		now.Before(ca.NotBefore) || now.After(ca.NotAfter) {
		return nil
	}
	// What Verify's CheckSignatureFrom does: the CA's side (mayIssue)
	// was checked when the state was built, the signature is checked
	// here. A bad signature goes to the full path for its error.
	if !f.signed(leaf) {
		return nil
	}
	if st.revoked.revoked(leaf) {
		return nil
	}
	return ca
}

// isCA reports whether c is one of the configured CA certificates.
func (st *state) isCA(c *stdx509.Certificate) bool {
	for _, ca := range st.cas {
		if bytes.Equal(c.Raw, ca.Raw) {
			return true
		}
	}
	return false
}

// usageAllowed is checkChainForKeyUsage for a leaf under a CA without
// extended key usages: a leaf without any is good for everything, one
// with anyExtendedKeyUsage too, otherwise it must list one of use's.
func usageAllowed(leaf *stdx509.Certificate, use purpose) bool {
	if len(leaf.ExtKeyUsage) == 0 && len(leaf.UnknownExtKeyUsage) == 0 {
		return true
	}
	for _, u := range leaf.ExtKeyUsage {
		if u == stdx509.ExtKeyUsageAny || use.allows(u) {
			return true
		}
	}
	return false
}
