package x509

import (
	stdx509 "crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/tuttifleet/tutti/connector/protocol"
)

// ErrStaleCRL is wrapped by ApplyCRL's refusal of a CRL that is not newer
// than the one in force for its issuer.
var ErrStaleCRL = errors.New("CRL is not newer than the one in force")

// crlMark orders the CRLs of one issuer: by CRL number when both carry
// one, else by thisUpdate.
type crlMark struct {
	number     *big.Int // nil: no CRL number extension
	thisUpdate time.Time
}

func markOf(crl *stdx509.RevocationList) crlMark {
	return crlMark{number: crl.Number, thisUpdate: crl.ThisUpdate}
}

// newerThan reports whether m is newer than old; anything is newer than
// the zero mark (no CRL in force).
func (m crlMark) newerThan(old crlMark) bool {
	if old.number == nil && old.thisUpdate.IsZero() {
		return true
	}
	if m.number != nil && old.number != nil {
		return m.number.Cmp(old.number) > 0
	}
	return m.thisUpdate.After(old.thisUpdate)
}

// pushedCRL is one CRL applied by ApplyCRL.
type pushedCRL struct {
	mark    crlMark
	entries []string // serial numbers, decimal
}

// CRLInfo describes a CRL ApplyCRL looked at.
type CRLInfo struct {
	Issuer     string    // the issuer's distinguished name
	Number     *big.Int  // nil without a CRL number
	ThisUpdate time.Time // when it was issued
	Entries    int       // revoked certificates it lists
}

// ApplyCRL puts a CRL (PEM or DER) in force without a reload: it must be
// signed by a certificate of the configured CA and newer than the CRL in
// force for its issuer (the CRL file's or an earlier ApplyCRL's; by CRL
// number, else by thisUpdate), or it is refused with the reason and the
// CRL in force stays. The new CRL replaces the earlier pushed one of its
// issuer; the CRL file's entries stay revoked. The verified-certificate
// caches are dropped, so the next request of a newly revoked certificate
// is refused. A later Reload keeps it.
func (p *Provider) ApplyCRL(data []byte) (CRLInfo, error) {
	crl, err := ParseCRL(data)
	if err != nil {
		return CRLInfo{}, fmt.Errorf("apply CRL: %w", err)
	}
	info := CRLInfo{Issuer: crl.Issuer.String(), Number: crl.Number, ThisUpdate: crl.ThisUpdate,
		Entries: len(crl.RevokedCertificateEntries)}
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	st := p.st.Load()
	if err := checkCRLIssuer(crl, st.cas); err != nil {
		return info, fmt.Errorf("apply CRL of %s: %w", info.Issuer, err)
	}
	issuer := string(crl.RawIssuer)
	m := markOf(crl)
	if cur := st.marks[issuer]; !m.newerThan(cur) {
		return info, fmt.Errorf("apply CRL of %s (number %v, issued %s): %w (number %v, issued %s)", info.Issuer,
			m.number, m.thisUpdate.UTC().Format(time.RFC3339), ErrStaleCRL, cur.number, cur.thisUpdate.UTC().Format(time.RFC3339))
	}
	pc := &pushedCRL{mark: m}
	for _, e := range crl.RevokedCertificateEntries {
		pc.entries = append(pc.entries, e.SerialNumber.String())
	}
	pushed := make(map[string]*pushedCRL, len(p.pushed)+1)
	for k, v := range p.pushed {
		pushed[k] = v
	}
	pushed[issuer] = pc
	p.pushed = pushed
	next := *st
	next.revoked, next.marks = mergeCRLs(st.fileRevoked, st.fileMarks, pushed)
	next.requests = newCertCache(defaultCacheSize, requestTables)
	next.replies = newCertCache(replyCacheSize, 0)
	p.st.Store(&next)
	return info, nil
}

// mergeCRLs is the union of the CRL file's revocations and the pushed
// CRLs', with the newest mark per issuer.
func mergeCRLs(file revocations, fileMarks map[string]crlMark, pushed map[string]*pushedCRL) (revocations, map[string]crlMark) {
	if len(pushed) == 0 {
		return file, fileMarks
	}
	rev := make(revocations, len(file))
	for k := range file {
		rev[k] = struct{}{}
	}
	marks := make(map[string]crlMark, len(fileMarks)+len(pushed))
	for k, v := range fileMarks {
		marks[k] = v
	}
	for issuer, pc := range pushed {
		for _, s := range pc.entries {
			rev[revocationKey{issuer: issuer, serial: s}] = struct{}{}
		}
		if pc.mark.newerThan(marks[issuer]) {
			marks[issuer] = pc.mark
		}
	}
	return rev, marks
}

// CheckChain refuses a verified chain (leaf first, the CA last, as
// crypto/tls's VerifiedChains hold them) in which the leaf or an
// intermediate is revoked by a CRL in force; the error wraps
// security.ErrRevoked. The broker uses it to close the connections of a
// certificate revoked after they were opened.
func (p *Provider) CheckChain(chain []*stdx509.Certificate) error {
	if len(chain) == 0 {
		return errors.New("empty certificate chain")
	}
	_, err := unrevokedChain([][]*stdx509.Certificate{chain}, p.st.Load().revoked, certName(chain[0]))
	return err
}

// revokedRefusal is VerifyRequest's answer for a certificate that chains
// to the CA but is revoked: revoked (wrapping security.ErrRevoked) only
// when the callerid is bound to the certificate and the signature
// verifies, so that a node answers "certificate revoked" to the holder
// of the revoked key alone; otherwise the binding or signature refusal,
// as for any other certificate.
func (p *Provider) revokedRefusal(revoked error, message, signature, pubcert []byte, callerID, kind, certname string) error {
	ders, err := pemCertificates(pubcert)
	if err != nil {
		return revoked // cannot happen: the chain was parsed to find it revoked
	}
	leaf, err := stdx509.ParseCertificate(ders[0])
	if err != nil {
		return revoked
	}
	e := p.newEntry(leaf, []*stdx509.Certificate{leaf})
	if err := p.bindCaller(e, callerID, kind, certname); err != nil {
		return err
	}
	if err := VerifyWith(e.pub, message, signature); err != nil {
		return protocol.Wrap(protocol.KindSignature, err,
			"request signature by revoked certificate %q (callerid %q) is invalid", e.name, callerID)
	}
	return revoked
}
