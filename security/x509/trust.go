package x509

import (
	stdx509 "crypto/x509"
	"fmt"
	"time"
)

// parsedCA is a CA file parsed: its certificates and the pool holding
// them. Neither is modified after parseCA.
type parsedCA struct {
	cas  []*stdx509.Certificate
	pool *stdx509.CertPool
}

func parseCA(caPEM []byte) (*parsedCA, error) {
	cas, err := ParseCertificatesPEM(caPEM)
	if err != nil {
		return nil, fmt.Errorf("parse CA: %w", err)
	}
	pool := stdx509.NewCertPool()
	for _, c := range cas {
		pool.AddCert(c)
	}
	return &parsedCA{cas: cas, pool: pool}, nil
}

// Trust is the read-only part of many providers built from one
// configuration and one CA: the CA file parsed into certificates and a
// pool, and the configuration's name rules compiled. An emulator of
// thousands of nodes builds it once (NewTrust) and each node's provider
// from it (NewFromTrust), instead of parsing the same CA and compiling
// the same regular expressions for every node. Everything a provider
// changes as it works stays its own: its certificate and key, its
// verified-certificate caches, the fast path's counters and comb tables
// of the CA keys, its CRLs.
type Trust struct {
	cfg   Config
	rules rules
	caPEM []byte
	ca    *parsedCA
}

// NewTrust parses caPEM and compiles cfg's name rules once. cfg's
// CertFile, KeyFile and CAFile are ignored, as in NewFromPEM.
func NewTrust(caPEM []byte, cfg Config) (*Trust, error) {
	r, err := compileRules(cfg)
	if err != nil {
		return nil, err
	}
	caPEM = clone(caPEM)
	ca, err := parseCA(caPEM)
	if err != nil {
		return nil, err
	}
	return &Trust{cfg: cfg, rules: r, caPEM: caPEM, ca: ca}, nil
}

// NewFromTrust builds a provider as NewFromPEM(certPEM, keyPEM, caPEM,
// cfg) does with t's CA and configuration, and verifies, signs, reloads
// and refuses exactly as that one would; only the parsed CA and the
// compiled rules are t's, shared with the other providers of t.
func NewFromTrust(certPEM, keyPEM []byte, t *Trust) (*Provider, error) {
	p := &Provider{cfg: t.cfg, rules: t.rules, now: t.cfg.Now, parsed: t.ca}
	if p.now == nil {
		p.now = time.Now
	}
	return p.fromPEM(certPEM, keyPEM, t.caPEM)
}
