package signer

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/aaa/login"
	"github.com/tuttifleet/tutti/aaa/revoke"
	"github.com/tuttifleet/tutti/security/x509"
)

// CodeRevoked is the error_code of a request signed with a revoked token.
const CodeRevoked = "token_revoked"

// TokenRevocationConfig is token_revocation (tutti): where revocations
// are kept (docs/central-aaa.md, "Revoking tokens").
type TokenRevocationConfig struct {
	// Servers are the NATS servers of the JetStream bucket
	// TUTTI_TOKEN_REVOCATIONS; default jetstream_auditor.servers when
	// the jetstream auditor is on.
	Servers string `yaml:"servers"`
	// File keeps revocations without JetStream; default
	// revocations.json next to logfile_auditor.logfile.
	File string `yaml:"file"`
}

// RevocationStore is where revocations are written and read.
type RevocationStore interface {
	Revoked(revoke.Token) *revoke.Entry
	Revoke(context.Context, revoke.Entry) error
	List(context.Context) ([]revoke.Entry, error)
	Close() error
}

// Revocations is what the signer asks about each token.
type Revocations interface {
	Revoked(revoke.Token) *revoke.Entry
}

// revocationServers is the JetStream the revocations live in, "" for none.
func (c *Config) revocationServers() string {
	if c.TokenRevocation.Servers != "" {
		return c.TokenRevocation.Servers
	}
	for _, a := range c.Auditors {
		if a == "jetstream" {
			return c.JetStreamAuditor.Servers
		}
	}
	return ""
}

// revocationFile is the local revocations file, "" for none.
func (c *Config) revocationFile() string {
	if c.TokenRevocation.File != "" {
		return c.TokenRevocation.File
	}
	if c.LogfileAuditor.Logfile != "" {
		return filepath.Join(filepath.Dir(c.LogfileAuditor.Logfile), "revocations.json")
	}
	return ""
}

// OpenRevocations opens the revocation store cfg names: the JetStream
// bucket when there is JetStream (mTLS with the privileged certificate
// for tls:// servers), else the local file. nil, nil when cfg names
// neither. tutti-aaa token uses it with the service's configuration.
func OpenRevocations(cfg *Config, log *logrus.Entry) (RevocationStore, error) {
	c := *cfg
	c.applyDefaults()
	var provider *x509.Provider
	if servers := c.revocationServers(); servers != "" && strings.Contains(servers, "tls://") {
		var err error
		provider, err = x509.New(x509.Config{CertFile: c.PrivilegedCertificate, KeyFile: c.PrivilegedKey, CAFile: c.PrivilegedCA})
		if err != nil {
			return nil, fmt.Errorf("token_revocation: privileged certificate: %w", err)
		}
	}
	return openRevocations(&c, provider, log)
}

func openRevocations(c *Config, provider *x509.Provider, log *logrus.Entry) (RevocationStore, error) {
	if servers := c.revocationServers(); servers != "" {
		kc := revoke.KVConfig{Servers: servers, Name: "tutti-aaa revocations " + c.Site, Cache: c.revocationFile()}
		if provider != nil && strings.Contains(servers, "tls://") {
			var err error
			if kc.TLS, err = provider.ClientTLS(""); err != nil {
				return nil, err
			}
			kc.InboxPrefix = x509.InboxPrefix(provider.Name())
		}
		s, err := revoke.OpenKV(kc, log)
		if err != nil {
			return nil, fmt.Errorf("token_revocation: %w", err)
		}
		return s, nil
	}
	if f := c.revocationFile(); f != "" {
		s, err := revoke.OpenFile(f, log)
		if err != nil {
			return nil, fmt.Errorf("token_revocation: %w", err)
		}
		return s, nil
	}
	return nil, nil
}

// setupRevocations opens the store for the signer; without one, tokens
// cannot be revoked and the log says so.
func (s *Service) setupRevocations() error {
	st, err := openRevocations(s.cfg, s.provider, s.log.WithField("component", "revocations"))
	if err != nil {
		return err
	}
	if st == nil {
		s.log.Warn("Token revocation is off: set token_revocation.file or .servers (or logfile_auditor.logfile)")
		return nil
	}
	s.revocations = st
	return nil
}

// tokenOf is what a revocation is matched against: the jti, the sub
// claim (the user name, from tutti-aaa) and the name of an up=<name>
// callerid (tokens from aaasvc carry no sub).
func tokenOf(c *login.Claims) revoke.Token {
	t := revoke.Token{ID: c.ID, Users: []string{c.Subject}}
	if name, ok := strings.CutPrefix(c.CallerID, "up="); ok && name != c.Subject {
		t.Users = append(t.Users, name)
	}
	if c.IssuedAt != nil {
		t.IssuedAt = c.IssuedAt.Time
	}
	return t
}

// checkRevoked refuses a revoked token.
func (s *Signer) checkRevoked(c *login.Claims) *Denial {
	if s.cfg.Revocations == nil {
		return nil
	}
	e := s.cfg.Revocations.Revoked(tokenOf(c))
	if e == nil {
		return nil
	}
	what := "token " + c.ID
	if e.JTI == "" {
		what = "tokens of " + e.User + " issued until " + e.RevokedAt.UTC().Format("2006-01-02T15:04:05Z")
	}
	return deny(CodeRevoked, nil, "%s revoked at %s by %s (%s)", what,
		e.RevokedAt.UTC().Format("2006-01-02T15:04:05Z"), e.By, e.Reason)
}

// revocationsOrNil keeps a nil store a nil interface.
func (s *Service) revocationsOrNil() Revocations {
	if s.revocations == nil {
		return nil
	}
	return s.revocations
}

func (s *Service) closeRevocations() error {
	if s.revocations == nil {
		return nil
	}
	return s.revocations.Close()
}

// Revocations is the service's revocation store, nil when none is
// configured.
func (s *Service) Revocations() RevocationStore { return s.revocations }
