package x509

import (
	stdx509 "crypto/x509"
	"encoding/pem"
	"fmt"
)

// revocations is the set of revoked certificates of the configured CRLs,
// keyed by issuer (raw subject DER) and serial number.
type revocations map[revocationKey]struct{}

type revocationKey struct {
	issuer string // raw issuer subject DER
	serial string // serial number, decimal
}

// revoked reports whether c is listed by a CRL of its issuer.
func (r revocations) revoked(c *stdx509.Certificate) bool {
	if len(r) == 0 {
		return false
	}
	_, ok := r[revocationKey{issuer: string(c.RawIssuer), serial: c.SerialNumber.String()}]
	return ok
}

// parseCRLs parses every X509 CRL block in data. Each CRL must be signed
// by one of issuers (the certificates of the CA file), so that a CRL file
// cannot be used to smuggle in revocations from another authority, and so
// a wrong file is noticed at load time rather than silently ignored.
//
// A CRL past its NextUpdate is still used: its entries remain revoked,
// and failing closed on the whole fleet because a CRL was not refreshed in
// time would be worse.
func parseCRLs(data []byte, issuers []*stdx509.Certificate) (revocations, map[string]crlMark, error) {
	if len(data) == 0 {
		return nil, nil, nil
	}
	out := revocations{}
	marks := map[string]crlMark{}
	n := 0
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "X509 CRL" {
			continue
		}
		n++
		crl, err := stdx509.ParseRevocationList(b.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("parse CRL #%d: %w", n, err)
		}
		if err := checkCRLIssuer(crl, issuers); err != nil {
			return nil, nil, fmt.Errorf("CRL #%d (issuer %s): %w", n, crl.Issuer, err)
		}
		if m := markOf(crl); m.newerThan(marks[string(crl.RawIssuer)]) {
			marks[string(crl.RawIssuer)] = m
		}
		for _, e := range crl.RevokedCertificateEntries {
			out[revocationKey{issuer: string(crl.RawIssuer), serial: e.SerialNumber.String()}] = struct{}{}
		}
	}
	if n == 0 {
		return nil, nil, fmt.Errorf("CRL file holds no X509 CRL PEM block")
	}
	return out, marks, nil
}

func checkCRLIssuer(crl *stdx509.RevocationList, issuers []*stdx509.Certificate) error {
	var lastErr error
	for _, ca := range issuers {
		if string(ca.RawSubject) != string(crl.RawIssuer) {
			continue
		}
		if lastErr = crl.CheckSignatureFrom(ca); lastErr == nil {
			return nil
		}
	}
	if lastErr != nil {
		return fmt.Errorf("signature does not verify against the CA file: %w", lastErr)
	}
	return fmt.Errorf("not issued by a certificate of the CA file")
}
