package x509

import (
	"crypto"
	"crypto/tls"
	stdx509 "crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tuttifleet/tutti/security"
)

// Default name patterns (docs/protocol.md §8.1, §8.2). The second privileged
// pattern keeps Choria's unescaped '.' on purpose, for compatibility.
var (
	DefaultCertnameAllow = []string{`\.mcollective$`, `\.choria$`}
	DefaultPrivileged    = []string{`\.privileged.mcollective$`, `\.privileged.choria$`}
)

// Config is what the provider needs: the file section of config.Security
// plus the request rules. The zero value of every optional field means
// the Choria default.
type Config struct {
	// CertFile, KeyFile and CAFile are PEM files. CAFile is required.
	// CertFile and KeyFile may both be empty for a verify-only provider.
	CertFile, KeyFile, CAFile string
	// CRLFile is an optional PEM file of one or more CRLs, each issued by
	// a certificate of CAFile (plugin.tutti.security.crl).
	CRLFile string
	// CertnameAllow are regexes, "/re/" or "re", searched unanchored in the
	// caller's certificate name; nil means DefaultCertnameAllow.
	CertnameAllow []string
	// Privileged are regexes matched against the leaf's CN and DNS SANs;
	// nil means DefaultPrivileged.
	Privileged []string
	// PrivilegedCallerKinds restricts the callerid kinds ("up", "choria")
	// a privileged certificate may assert; empty allows any kind.
	PrivilegedCallerKinds []string
	// AllowLegacyCerts accepts leaf certificates without any SAN (CN only).
	AllowLegacyCerts bool
	// Now is the clock used for validity checks; nil means time.Now.
	Now func() time.Time
}

// Provider signs with one certificate and key and verifies requests and
// replies against one CA (docs/protocol.md §6, §8). Files are read at
// construction and on Reload only, never per request (W11).
//
// A Provider is safe for concurrent use. Its state is an immutable
// snapshot swapped atomically by Reload, so a request in flight sees
// either the old or the new files, never a mix.
type Provider struct {
	cfg   Config
	rules rules
	now   func() time.Time
	// fromFiles is false for NewFromPEM providers; their Reload keeps the
	// PEM they were built from and only drops the caches.
	fromFiles bool
	mem       pemSet
	// parsed is the CA file already parsed (NewFromTrust), used instead
	// of parsing mem.ca; nil otherwise.
	parsed *parsedCA

	// fullChainOnly turns the direct-issuer fast path off (tests that
	// compare it with crypto/x509's Verify).
	fullChainOnly bool

	reloadMu sync.Mutex
	// pushed are the CRLs applied by ApplyCRL, one per issuer (raw
	// subject DER), kept across Reload; guarded by reloadMu.
	pushed map[string]*pushedCRL
	st     atomic.Pointer[state]
}

// pemSet is the raw material of a state.
type pemSet struct {
	cert, key, ca, crl []byte
}

// state is everything derived from the files. It is never modified after
// it is published, except for the caches, which lock themselves.
type state struct {
	key     crypto.Signer // nil for a verify-only provider
	certPEM []byte
	name    string
	tlsCert *tls.Certificate // nil without cert and key

	caPool  *stdx509.CertPool
	cas     []*stdx509.Certificate // the CA file, as caPool holds it
	fast    fastCAs                // CAs that may issue on the fast path
	revoked revocations
	// marks are the number and thisUpdate of the newest CRL in force per
	// issuer (raw subject DER), file or pushed.
	marks map[string]crlMark
	// fileRevoked and fileMarks are the CRL file's part of revoked and
	// marks, kept so ApplyCRL can rebuild the union without the files.
	fileRevoked revocations
	fileMarks   map[string]crlMark

	requests *certCache // chains verified for clientAuth
	replies  *certCache // chains verified for serverAuth or clientAuth
}

// New reads cfg's files once and returns a provider.
func New(cfg Config) (*Provider, error) {
	p, err := newProvider(cfg)
	if err != nil {
		return nil, err
	}
	p.fromFiles = true
	st, err := p.loadFiles()
	if err != nil {
		return nil, err
	}
	p.st.Store(st)
	return p, nil
}

// NewFromPEM builds a provider from PEM held in memory (the emulator,
// tests). keyPEM may be nil for a verify-only provider, and then certPEM
// may be nil too. cfg's CertFile, KeyFile and CAFile are ignored; CRLFile,
// when set, is read from disk now and on Reload.
func NewFromPEM(certPEM, keyPEM, caPEM []byte, cfg Config) (*Provider, error) {
	p, err := newProvider(cfg)
	if err != nil {
		return nil, err
	}
	return p.fromPEM(certPEM, keyPEM, clone(caPEM))
}

// fromPEM builds p's first state from copies of certPEM and keyPEM, caPEM
// (the caller's copy) and the CRL file, if one is configured.
func (p *Provider) fromPEM(certPEM, keyPEM, caPEM []byte) (*Provider, error) {
	p.mem = pemSet{cert: clone(certPEM), key: clone(keyPEM), ca: caPEM}
	set := p.mem
	var err error
	if set.crl, err = readOptional(p.cfg.CRLFile, "CRL"); err != nil {
		return nil, err
	}
	st, err := p.build(set)
	if err != nil {
		return nil, err
	}
	p.st.Store(st)
	return p, nil
}

func newProvider(cfg Config) (*Provider, error) {
	r, err := compileRules(cfg)
	if err != nil {
		return nil, err
	}
	p := &Provider{cfg: cfg, rules: r, now: cfg.Now}
	if p.now == nil {
		p.now = time.Now
	}
	return p, nil
}

// Reload re-reads the certificate, key, CA and CRL files and drops every
// cached verification. On error the previous state stays in force.
func (p *Provider) Reload() error {
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	var (
		st  *state
		err error
	)
	if p.fromFiles {
		st, err = p.loadFiles()
	} else {
		set := p.mem
		if set.crl, err = readOptional(p.cfg.CRLFile, "CRL"); err == nil {
			st, err = p.build(set)
		}
	}
	if err != nil {
		return fmt.Errorf("reload security provider: %w", err)
	}
	p.st.Store(st)
	return nil
}

func (p *Provider) loadFiles() (*state, error) {
	if p.cfg.CAFile == "" {
		return nil, errors.New("no CA file configured (plugin.security.file.ca)")
	}
	if p.cfg.KeyFile != "" && p.cfg.CertFile == "" {
		return nil, errors.New("a key file is configured without a certificate file")
	}
	var (
		set pemSet
		err error
	)
	if set.ca, err = readOptional(p.cfg.CAFile, "CA"); err != nil {
		return nil, err
	}
	if set.cert, err = readOptional(p.cfg.CertFile, "certificate"); err != nil {
		return nil, err
	}
	if set.key, err = readOptional(p.cfg.KeyFile, "key"); err != nil {
		return nil, err
	}
	if set.crl, err = readOptional(p.cfg.CRLFile, "CRL"); err != nil {
		return nil, err
	}
	return p.build(set)
}

// readOptional reads path, or returns nil when path is empty.
func readOptional(path, what string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s file: %w", what, err)
	}
	return b, nil
}

// build parses a pemSet into a fresh state with empty caches. A provider
// built from a Trust takes its parsed CA instead of parsing set.ca.
func (p *Provider) build(set pemSet) (*state, error) {
	ca := p.parsed
	if ca == nil {
		var err error
		if ca, err = parseCA(set.ca); err != nil {
			return nil, err
		}
	}
	st := &state{
		caPool:   ca.pool,
		requests: newCertCache(defaultCacheSize, requestTables),
		replies:  newCertCache(replyCacheSize, 0),
	}
	// the fast path's per-CA counters and comb tables are the
	// provider's own, as on a node of its own
	cas := ca.cas
	st.cas, st.fast = cas, newFastCAs(cas)
	var err error
	if st.fileRevoked, st.fileMarks, err = parseCRLs(set.crl, cas); err != nil {
		return nil, err
	}
	st.revoked, st.marks = mergeCRLs(st.fileRevoked, st.fileMarks, p.pushed)
	if len(set.key) > 0 && len(set.cert) == 0 {
		return nil, errors.New("a private key was given without its certificate")
	}
	if len(set.cert) == 0 {
		return st, nil
	}
	certs, err := ParseCertificatesPEM(set.cert)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	st.certPEM = set.cert
	st.name = certName(certs[0])
	if len(set.key) == 0 {
		return st, nil
	}
	if st.key, err = ParsePrivateKeyPEM(set.key); err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	if err := keyMatches(st.key, certs[0]); err != nil {
		return nil, err
	}
	tc := &tls.Certificate{PrivateKey: st.key, Leaf: certs[0]}
	for _, c := range certs {
		tc.Certificate = append(tc.Certificate, c.Raw)
	}
	st.tlsCert = tc
	return st, nil
}

func keyMatches(key crypto.Signer, cert *stdx509.Certificate) error {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return fmt.Errorf("%w: private key does not belong to certificate %q", ErrKeyMismatch, certName(cert))
	}
	return nil
}

// certName is the CN, or the first DNS SAN when the CN is empty.
func certName(c *stdx509.Certificate) string {
	if c.Subject.CommonName != "" || len(c.DNSNames) == 0 {
		return c.Subject.CommonName
	}
	return c.DNSNames[0]
}

// Sign signs msg with the provider's private key (see SignWith).
func (p *Provider) Sign(msg []byte) ([]byte, error) {
	st := p.st.Load()
	if st.key == nil {
		return nil, errors.New("sign: this provider has no private key (verify only)")
	}
	return SignWith(st.key, msg)
}

// CertificatePEM returns the certificate file's PEM (leaf first, then any
// intermediates), as sent in pubcert. It is nil for a provider without a
// certificate. The caller must not modify it.
func (p *Provider) CertificatePEM() []byte { return p.st.Load().certPEM }

// Name is the certificate name: the CN, or the first DNS SAN.
func (p *Provider) Name() string { return p.st.Load().name }

// CAPool returns the trusted CA certificates. The caller must not modify
// the pool; after Reload it is a different pool.
func (p *Provider) CAPool() *stdx509.CertPool { return p.st.Load().caPool }

// ClientTLS returns a TLS configuration for connecting to a broker named
// serverName: TLS 1.2 or later, the server verified against the CA, and
// the provider's certificate offered when the server asks. The
// certificate is looked up per handshake, so a Reload rotates it; the CA
// pool is the one in force now (call ClientTLS again after a Reload that
// changes the CA).
func (p *Provider) ClientTLS(serverName string) (*tls.Config, error) {
	st := p.st.Load()
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    st.caPool,
		ServerName: serverName,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if c := p.st.Load().tlsCert; c != nil {
				return c, nil
			}
			return &tls.Certificate{}, nil // no certificate to offer
		},
	}, nil
}

// ServerTLS returns a TLS configuration for the broker side: TLS 1.2 or
// later, the provider's certificate, and client certificates required and
// verified against the CA. Each handshake uses the state in force, so a
// Reload takes effect for new connections.
func (p *Provider) ServerTLS() (*tls.Config, error) {
	if p.st.Load().tlsCert == nil {
		return nil, errors.New("server TLS needs a certificate and key")
	}
	base := &tls.Config{MinVersion: tls.VersionTLS12}
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		st := p.st.Load()
		if st.tlsCert == nil {
			return nil, errors.New("server TLS: no certificate loaded")
		}
		return &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{*st.tlsCert},
			ClientCAs:    st.caPool,
			ClientAuth:   tls.RequireAndVerifyClientCert,
		}, nil
	}
	return base, nil
}

// rules are the compiled name rules of a Config.
type rules struct {
	allow      []*regexp.Regexp
	privileged []*regexp.Regexp
	privKinds  map[string]bool // nil: any kind
	legacy     bool
}

func compileRules(cfg Config) (rules, error) {
	var (
		r   rules
		err error
	)
	if r.allow, err = compileList("certname allow", cfg.CertnameAllow, DefaultCertnameAllow); err != nil {
		return r, err
	}
	if r.privileged, err = compileList("privileged", cfg.Privileged, DefaultPrivileged); err != nil {
		return r, err
	}
	for _, k := range cfg.PrivilegedCallerKinds {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		if !isCallerKind(k) {
			return r, fmt.Errorf("privileged caller kind %q: want lower-case letters, like up or choria", k)
		}
		if r.privKinds == nil {
			r.privKinds = map[string]bool{}
		}
		r.privKinds[k] = true
	}
	r.legacy = cfg.AllowLegacyCerts
	return r, nil
}

// compileList compiles patterns written "/re/" or "re"; nil patterns mean
// defaults. Matching is case-sensitive, as in Choria.
func compileList(what string, patterns, defaults []string) ([]*regexp.Regexp, error) {
	if patterns == nil {
		patterns = defaults
	}
	out := make([]*regexp.Regexp, 0, len(patterns))
	for _, p := range patterns {
		p = strings.TrimSpace(p)
		if len(p) >= 2 && p[0] == '/' && p[len(p)-1] == '/' {
			p = p[1 : len(p)-1]
		}
		if p == "" {
			continue
		}
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("%s pattern %q: %w", what, p, err)
		}
		out = append(out, re)
	}
	return out, nil
}

func matchAny(res []*regexp.Regexp, s string) bool {
	for _, re := range res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// pemCertificates splits pubcert into DER certificates, leaf first. Any
// PEM block other than CERTIFICATE is refused.
func pemCertificates(data []byte) ([][]byte, error) {
	var out [][]byte
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			if len(out) == 0 {
				return nil, errors.New("no PEM certificate found")
			}
			return out, nil
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("unexpected PEM block %q", b.Type)
		}
		out = append(out, b.Bytes)
	}
}

var (
	_ security.Signer   = (*Provider)(nil)
	_ security.Verifier = (*Provider)(nil)
)
