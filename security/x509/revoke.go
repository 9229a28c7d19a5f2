package x509

import (
	"crypto/rand"
	stdx509 "crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// CRLFile is the CRL of a PKI directory, written by RevokeInDir.
const CRLFile = "crl.pem"

// DefaultCRLValidity is how long a CRL made by RevokeInDir is current
// (its nextUpdate). Nodes keep using an older one (see parseCRLs).
const DefaultCRLValidity = 30 * 24 * time.Hour

// Revocation is one certificate to revoke.
type Revocation struct {
	// Target is a certificate name (NAME.pem in the directory) or a
	// serial number, decimal or hex with 0x.
	Target string
	// Reason is an RFC 5280 reason code (0 unspecified, 1 key compromise,
	// 4 superseded, 5 cessation of operation…).
	Reason int
}

// RevokeResult is what RevokeInDir wrote.
type RevokeResult struct {
	Serial  *big.Int
	Subject string // empty when revoked by serial without NAME.pem
	Number  *big.Int
	PEM     []byte
	Path    string
}

// RevokeInDir revokes r.Target with the CA in dir: it signs a new CRL
// holding every entry of dir's previous crl.pem (verified against the CA
// first) plus the new one, with the CRL number incremented, and writes it
// to dir/crl.pem (atomically). Revoking a certificate already listed
// issues a new CRL all the same (a new number, to publish again).
func RevokeInDir(dir string, r Revocation, now time.Time) (*RevokeResult, error) {
	ca, err := LoadCADir(dir)
	if err != nil {
		return nil, err
	}
	serial, subject, err := revocationTarget(dir, r.Target, ca.Cert)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, CRLFile)
	prev, err := readPreviousCRL(path, ca.Cert)
	if err != nil {
		return nil, err
	}
	tmpl := &stdx509.RevocationList{
		Number:     big.NewInt(1),
		ThisUpdate: now.UTC(),
		NextUpdate: now.UTC().Add(DefaultCRLValidity),
	}
	listed := false
	if prev != nil {
		tmpl.Number = new(big.Int).Add(prev.Number, big.NewInt(1))
		tmpl.RevokedCertificateEntries = prev.RevokedCertificateEntries
		for _, e := range prev.RevokedCertificateEntries {
			listed = listed || e.SerialNumber.Cmp(serial) == 0
		}
	}
	if !listed {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, stdx509.RevocationListEntry{
			SerialNumber: serial, RevocationTime: now.UTC(), ReasonCode: r.Reason,
		})
	}
	der, err := stdx509.CreateRevocationList(rand.Reader, tmpl, ca.Cert, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("sign CRL: %w", err)
	}
	out := pemBlock("X509 CRL", der)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, out, 0o644); err != nil {
		return nil, fmt.Errorf("write CRL: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("write CRL: %w", err)
	}
	return &RevokeResult{Serial: serial, Subject: subject, Number: tmpl.Number, PEM: out, Path: path}, nil
}

// revocationTarget resolves a certificate name (NAME.pem in dir, which
// must be issued by ca) or a serial number.
func revocationTarget(dir, target string, ca *stdx509.Certificate) (*big.Int, string, error) {
	if s, ok := parseSerial(target); ok {
		return s, "", nil
	}
	if !certNameRe.MatchString(target) {
		return nil, "", fmt.Errorf("revoke %q: neither a certificate name nor a serial number", target)
	}
	data, err := os.ReadFile(filepath.Join(dir, target+".pem"))
	if err != nil {
		return nil, "", fmt.Errorf("revoke %s: %w (give its serial number when the certificate file is elsewhere)", target, err)
	}
	certs, err := ParseCertificatesPEM(data)
	if err != nil {
		return nil, "", fmt.Errorf("revoke %s: %w", target, err)
	}
	if err := certs[0].CheckSignatureFrom(ca); err != nil {
		return nil, "", fmt.Errorf("revoke %s: not issued by the CA of this directory: %w", target, err)
	}
	return certs[0].SerialNumber, certs[0].Subject.String(), nil
}

// parseSerial reads a decimal or 0x-prefixed hex serial number.
func parseSerial(s string) (*big.Int, bool) {
	base := 10
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		s, base = h, 16
	}
	if s == "" {
		return nil, false
	}
	n, ok := new(big.Int).SetString(s, base)
	if !ok || n.Sign() <= 0 {
		return nil, false
	}
	return n, true
}

// readPreviousCRL reads the directory's CRL, nil when there is none. A
// CRL that does not verify against the CA is an error: its entries would
// be carried into a newly signed CRL.
func readPreviousCRL(path string, ca *stdx509.Certificate) (*stdx509.RevocationList, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read previous CRL: %w", err)
	}
	crl, err := ParseCRL(data)
	if err != nil {
		return nil, fmt.Errorf("previous CRL %s: %w", path, err)
	}
	if err := crl.CheckSignatureFrom(ca); err != nil {
		return nil, fmt.Errorf("previous CRL %s is not signed by this CA: %w", path, err)
	}
	if crl.Number == nil {
		crl.Number = big.NewInt(0)
	}
	return crl, nil
}

// ParseCRL parses one CRL, PEM ("X509 CRL") or DER. It does not verify
// the signature.
func ParseCRL(data []byte) (*stdx509.RevocationList, error) {
	der := data
	if b, _ := pem.Decode(data); b != nil {
		if b.Type != "X509 CRL" {
			return nil, fmt.Errorf("PEM block %q is not an X509 CRL", b.Type)
		}
		der = b.Bytes
	}
	crl, err := stdx509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("parse CRL: %w", err)
	}
	return crl, nil
}

// SerialNames maps the serial numbers (decimal) of the certificates in
// dir (*.pem other than ca.pem and crl.pem) to their subjects, for
// listings. Files that do not parse are skipped.
func SerialNames(dir string) map[string]string {
	out := map[string]string{}
	paths, _ := filepath.Glob(filepath.Join(dir, "*.pem"))
	for _, p := range paths {
		if b := filepath.Base(p); b == CAFile || b == CRLFile {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if certs, err := ParseCertificatesPEM(data); err == nil {
			out[certs[0].SerialNumber.String()] = certs[0].Subject.String()
		}
	}
	return out
}
