package x509

import (
	"crypto/sha256"
	stdx509 "crypto/x509"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security"
)

// purpose is what a chain is verified for.
type purpose int

const (
	forRequest purpose = iota // clientAuth
	forReply                  // serverAuth or clientAuth
)

func (u purpose) usages() []stdx509.ExtKeyUsage {
	if u == forRequest {
		return []stdx509.ExtKeyUsage{stdx509.ExtKeyUsageClientAuth}
	}
	return []stdx509.ExtKeyUsage{stdx509.ExtKeyUsageServerAuth, stdx509.ExtKeyUsageClientAuth}
}

// allows reports whether a certificate listing the extended key usage e
// is good for u (one of u.usages()); it does not allocate.
func (u purpose) allows(e stdx509.ExtKeyUsage) bool {
	return e == stdx509.ExtKeyUsageClientAuth || (u == forReply && e == stdx509.ExtKeyUsageServerAuth)
}

func (u purpose) String() string {
	if u == forRequest {
		return "client authentication"
	}
	return "server or client authentication"
}

// VerifyRequest applies docs/protocol.md §8 to a request: callerID must be
// kind=name (anchored, W9); pubcert must chain to the CA for clientAuth
// and be valid now and not revoked; a non-privileged certificate must be
// named certname (DNS SAN or CN, email SAN for email:…) and certname must
// be on the allow list; a privileged one may assert any callerid of an
// allowed kind. Finally signature must verify over message. Every refusal
// is a *protocol.Error of kind caller, certificate or signature.
//
// Chain verification is cached per pubcert (docs/protocol.md §8.3); the
// signature is verified on every call.
func (p *Provider) VerifyRequest(message, signature, pubcert []byte, callerID string) (*security.Caller, error) {
	kind, certname, ok := parseCallerID(callerID)
	if !ok {
		return nil, protocol.Errorf(protocol.KindCaller,
			"callerid %q is not of the form kind=name (lower-case kind, name of letters, digits, '_', '.', '-')", callerID)
	}
	st := p.st.Load()
	e, err := p.verifiedCert(st, pubcert, forRequest)
	if errors.Is(err, security.ErrRevoked) {
		return nil, p.revokedRefusal(err, message, signature, pubcert, callerID, kind, certname)
	}
	if err != nil {
		return nil, err
	}
	if err := p.bindCaller(e, callerID, kind, certname); err != nil {
		return nil, err
	}
	if err := st.requests.verify(e, message, signature); err != nil {
		return nil, protocol.Wrap(protocol.KindSignature, err,
			"request signature by certificate %q (callerid %q) is invalid", e.name, callerID)
	}
	return &security.Caller{
		CallerID:    callerID,
		CertName:    e.name,
		Privileged:  e.privileged,
		Fingerprint: e.fingerprint,
	}, nil
}

// bindCaller applies the name rules of docs/protocol.md §8.1 and §8.2.
func (p *Provider) bindCaller(e *certEntry, callerID, kind, certname string) error {
	if e.privileged {
		if p.rules.privKinds != nil && !p.rules.privKinds[kind] {
			return protocol.Errorf(protocol.KindCaller,
				"privileged certificate %q may not assert callerid %q: kind %q is not in privileged_caller_kinds (%s)",
				e.name, callerID, kind, strings.Join(slices.Sorted(maps.Keys(p.rules.privKinds)), ","))
		}
		return nil
	}
	allowed, bound := e.bound[certname]
	if !bound {
		return protocol.Errorf(protocol.KindCaller,
			"callerid %q is not bound to its certificate: certificate is valid for %s, not %s",
			callerID, e.validFor(), certname)
	}
	if !allowed {
		return protocol.Errorf(protocol.KindCaller,
			"callerid %q certificate name %q does not match the allowed list (certname_whitelist)",
			callerID, certname)
	}
	return nil
}

// VerifyReply checks a node's signed reply (tutti extension, W6): pubcert
// chains to the CA for serverAuth or clientAuth, is valid now and not
// revoked; senderID is one of its names (DNS SAN or CN); signature
// verifies over message.
func (p *Provider) VerifyReply(message, signature, pubcert []byte, senderID string) error {
	st := p.st.Load()
	e, err := p.verifiedCert(st, pubcert, forReply)
	if err != nil {
		return err
	}
	if _, ok := e.bound[senderID]; !ok || strings.HasPrefix(senderID, "email:") {
		return protocol.Errorf(protocol.KindCaller,
			"reply from %q is signed by a certificate valid for %s", senderID, e.validFor())
	}
	if err := st.replies.verify(e, message, signature); err != nil {
		return protocol.Wrap(protocol.KindSignature, err, "reply signature by %q is invalid", senderID)
	}
	return nil
}

// verifiedCert returns the cache entry for pubcert, verifying the chain on
// a miss.
func (p *Provider) verifiedCert(st *state, pubcert []byte, use purpose) (*certEntry, error) {
	cache := st.requests
	if use == forReply {
		cache = st.replies
	}
	now := p.now()
	key := sha256.Sum256(pubcert)
	if e := cache.get(key, now); e != nil {
		return e, nil
	}
	e, err := p.verifyChain(st, pubcert, use, now)
	if err != nil {
		return nil, err
	}
	e.key = key
	cache.put(key, e, now)
	return e, nil
}

// verifyChain does the full, uncached certificate checks.
func (p *Provider) verifyChain(st *state, pubcert []byte, use purpose, now time.Time) (*certEntry, error) {
	ders, err := pemCertificates(pubcert)
	if err != nil {
		return nil, protocol.Wrap(protocol.KindCertificate, err, "pubcert is not a PEM certificate chain")
	}
	leaf, err := stdx509.ParseCertificate(ders[0])
	if err != nil {
		return nil, protocol.Wrap(protocol.KindCertificate, err, "cannot parse the pubcert leaf certificate")
	}
	name := certName(leaf)
	if len(ders) == 1 && !p.fullChainOnly {
		if err := p.checkLeaf(leaf, name, now); err != nil {
			return nil, err
		}
		if ca := st.directIssuer(leaf, use, now); ca != nil {
			return p.newEntry(leaf, []*stdx509.Certificate{leaf, ca}), nil
		}
		return p.fullChain(st, leaf, nil, name, use, now)
	}
	inter := stdx509.NewCertPool()
	for i, der := range ders[1:] {
		c, err := stdx509.ParseCertificate(der)
		if err != nil {
			return nil, protocol.Wrap(protocol.KindCertificate, err,
				"cannot parse intermediate certificate #%d sent with %q", i+1, name)
		}
		if err := checkKeyStrength(c.PublicKey); err != nil {
			return nil, protocol.Wrap(protocol.KindCertificate, err, "intermediate %q sent with %q", certName(c), name)
		}
		inter.AddCert(c)
	}
	if err := p.checkLeaf(leaf, name, now); err != nil {
		return nil, err
	}
	return p.fullChain(st, leaf, inter, name, use, now)
}

// fullChain verifies leaf with crypto/x509 (any chain shape) and checks
// the chain it found against the CRLs.
func (p *Provider) fullChain(st *state, leaf *stdx509.Certificate, inter *stdx509.CertPool, name string, use purpose, now time.Time) (*certEntry, error) {
	chains, err := leaf.Verify(stdx509.VerifyOptions{
		Roots:         st.caPool,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     use.usages(),
	})
	if err != nil {
		return nil, chainError(err, name, use)
	}
	chain, err := unrevokedChain(chains, st.revoked, name)
	if err != nil {
		return nil, err
	}
	return p.newEntry(leaf, chain), nil
}

// checkLeaf checks what Verify would report less clearly, or not at all.
func (p *Provider) checkLeaf(leaf *stdx509.Certificate, name string, now time.Time) error {
	if err := checkKeyStrength(leaf.PublicKey); err != nil {
		return protocol.Wrap(protocol.KindCertificate, err, "certificate for %q has an unacceptable key", name)
	}
	if now.Before(leaf.NotBefore) {
		return protocol.Errorf(protocol.KindCertificate, "certificate for %q is not valid before %s (now %s)",
			name, leaf.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if now.After(leaf.NotAfter) {
		return protocol.Errorf(protocol.KindCertificate, "certificate for %q expired at %s (now %s)",
			name, leaf.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if !p.rules.legacy && !hasSAN(leaf) {
		return protocol.Errorf(protocol.KindCertificate,
			"certificate for %q has no subject alternative name; reissue it with SANs or set plugin.security.support_legacy_certificates",
			name)
	}
	return nil
}

func hasSAN(c *stdx509.Certificate) bool {
	return len(c.DNSNames)+len(c.EmailAddresses)+len(c.IPAddresses)+len(c.URIs) > 0
}

// chainError turns a crypto/x509 verification error into a refusal an
// operator can act on.
func chainError(err error, name string, use purpose) error {
	var (
		ua  stdx509.UnknownAuthorityError
		inv stdx509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &ua):
		return protocol.Wrap(protocol.KindCertificate, err,
			"certificate for %q is not signed by the configured CA", name)
	case errors.As(err, &inv) && inv.Reason == stdx509.IncompatibleUsage:
		return protocol.Wrap(protocol.KindCertificate, err,
			"certificate for %q (or its issuer) is not valid for %s", name, use)
	case errors.As(err, &inv) && inv.Reason == stdx509.Expired:
		return protocol.Wrap(protocol.KindCertificate, err,
			"a certificate in the chain of %q is expired or not yet valid", name)
	}
	return protocol.Wrap(protocol.KindCertificate, err,
		"certificate for %q does not chain to the configured CA", name)
}

// unrevokedChain returns the first chain in which neither the leaf nor an
// intermediate is revoked. The root is the configured CA itself and is
// trusted as configured.
func unrevokedChain(chains [][]*stdx509.Certificate, rev revocations, name string) ([]*stdx509.Certificate, error) {
	var firstRevoked *stdx509.Certificate
	for _, chain := range chains {
		var bad *stdx509.Certificate
		for _, c := range chain[:len(chain)-1] {
			if rev.revoked(c) {
				bad = c
				break
			}
		}
		if bad == nil {
			return chain, nil
		}
		if firstRevoked == nil {
			firstRevoked = bad
		}
	}
	if firstRevoked == nil { // Verify returned no chain; cannot happen
		return nil, protocol.Errorf(protocol.KindCertificate, "certificate for %q: no verified chain", name)
	}
	return nil, protocol.Wrap(protocol.KindCertificate, security.ErrRevoked,
		"certificate for %q is revoked: %q serial %s is listed in the CRL",
		name, certName(firstRevoked), firstRevoked.SerialNumber)
}

// newEntry records a verified leaf and its chain.
func (p *Provider) newEntry(leaf *stdx509.Certificate, chain []*stdx509.Certificate) *certEntry {
	e := &certEntry{
		pub:         leaf.PublicKey,
		cn:          leaf.Subject.CommonName,
		name:        certName(leaf),
		dnsNames:    leaf.DNSNames,
		emails:      leaf.EmailAddresses,
		fingerprint: sha256.Sum256(leaf.Raw),
		bound:       make(map[string]bool, len(leaf.DNSNames)+len(leaf.EmailAddresses)+1),
		notBefore:   leaf.NotBefore,
		notAfter:    leaf.NotAfter,
	}
	for _, c := range chain {
		if c.NotBefore.After(e.notBefore) {
			e.notBefore = c.NotBefore
		}
		if c.NotAfter.Before(e.notAfter) {
			e.notAfter = c.NotAfter
		}
	}
	names := append([]string{}, leaf.DNSNames...)
	if e.cn != "" {
		names = append(names, e.cn)
	}
	for _, n := range names {
		e.bound[n] = matchAny(p.rules.allow, n)
	}
	// Privileged only by the subject's CN, the name the certificate is
	// issued to: a DNS SAN that looks privileged (x.privileged.mcollective
	// on mallory's certificate) gives nothing, or any certificate a CA
	// issued with an extra SAN could assert every caller id.
	e.privileged = e.cn != "" && matchAny(p.rules.privileged, e.cn)
	for _, m := range leaf.EmailAddresses {
		n := "email:" + m
		e.bound[n] = matchAny(p.rules.allow, n)
	}
	return e
}

// validFor lists the names a certificate may act as, for messages.
func (e *certEntry) validFor() string {
	names := append([]string{}, e.dnsNames...)
	if e.cn != "" && !slices.Contains(names, e.cn) {
		names = append(names, e.cn)
	}
	for _, m := range e.emails {
		names = append(names, "email:"+m)
	}
	if len(names) == 0 {
		return "no names"
	}
	return strings.Join(names, ", ")
}
