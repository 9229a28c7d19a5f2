package x509

import (
	"bytes"
	stdx509 "crypto/x509"
	"encoding/asn1"
	"slices"
	"time"
)

// The fast path for a first contact.
//
// Nearly every certificate a node or client sees is a leaf issued
// directly by a configured CA. For such a leaf, crypto/x509's Verify
// builds candidate chains, copies them, runs the RFC 9618 policy graph
// and walks the key usages, which costs about a fifth of a first contact
// on top of the CA's signature check. directIssuer does the same checks
// for that one chain shape itself and falls back to Verify for anything
// else.
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
// leaves take the full path.
type fastCAs map[string]*stdx509.Certificate

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
		if !onlyFastExtensions(ca) || len(ca.ExtKeyUsage) > 0 || len(ca.UnknownExtKeyUsage) > 0 {
			out[subj] = nil
			continue
		}
		out[subj] = ca
	}
	return out
}

// directIssuer returns the configured CA that issued leaf when the fast
// path can establish that Verify would accept the chain [leaf, CA] for
// use at now and that the leaf is not revoked; otherwise nil.
func (st *state) directIssuer(leaf *stdx509.Certificate, use purpose, now time.Time) *stdx509.Certificate {
	ca := st.fast[string(leaf.RawIssuer)]
	if ca == nil || bytes.Equal(leaf.Raw, ca.Raw) || st.isCA(leaf) {
		// Verify returns a configured CA presented as a leaf as a chain
		// of its own.
		return nil
	}
	if !onlyFastExtensions(leaf) || !usageAllowed(leaf, use) {
		return nil
	}
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) ||
		now.Before(ca.NotBefore) || now.After(ca.NotAfter) {
		return nil
	}
	// The same call Verify makes: the CA's basic constraints and key
	// usage (certSign), the signature algorithm, then the signature.
	if leaf.CheckSignatureFrom(ca) != nil {
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
