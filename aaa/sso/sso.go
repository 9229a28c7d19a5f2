package sso

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/sirupsen/logrus"
	"golang.org/x/oauth2"

	"github.com/tuttifleet/tutti/aaa/login"
)

// Refusal is a refused SSO login. Message is for the user; Reason is a
// short label for the service log and metrics: bad_token, nonce,
// no_username, no_groups, no_entitlement, second_factor, provider,
// bad_request, unknown_session, expired_session, denied.
type Refusal struct {
	Reason  string
	Message string
	Err     error
}

func (r *Refusal) Error() string {
	if r.Err != nil {
		return fmt.Sprintf("sso login refused: %s: %s: %v", r.Reason, r.Message, r.Err)
	}
	return fmt.Sprintf("sso login refused: %s: %s", r.Reason, r.Message)
}

func (r *Refusal) Unwrap() error { return r.Err }

func refuse(reason, msg string, err error) *Refusal {
	return &Refusal{Reason: reason, Message: msg, Err: err}
}

// Identity is what a verified ID token says about the user.
type Identity struct {
	Issuer, Subject, Username string
	Groups                    []string
	AMR                       []string
	ACR                       string
}

// Options are the Authenticator's run-time dependencies.
type Options struct {
	// Key signs the tokens (the userlist signing key).
	Key crypto.Signer
	// Now is the clock for ID token expiry and issued tokens.
	Now func() time.Time
	Log *logrus.Entry
	// HTTPClient talks to the provider; default one trusting Config.CA.
	HTTPClient *http.Client
	// Metrics counts the logins; nil counts nothing.
	Metrics *Metrics
}

// Authenticator runs SSO logins. Safe for concurrent use.
type Authenticator struct {
	cfg    Config
	secret string
	key    crypto.Signer
	now    func() time.Time
	log    *logrus.Entry
	client *http.Client
	// metrics counts the logins (nil: not counted)
	metrics *Metrics

	mu       sync.Mutex
	provider *oidc.Provider // nil until discovery succeeded
	verifier *oidc.IDTokenVerifier
	sessions *sessions
	// bg is the context of the device flows' polling goroutines.
	bg     context.Context
	cancel context.CancelFunc
}

// New builds an Authenticator from a defaulted, validated cfg. Discovery
// happens on first use (and is retried until it succeeds), so tutti-aaa
// starts while the provider is down.
func New(cfg Config, opts Options) (*Authenticator, error) {
	if opts.Key == nil {
		return nil, fmt.Errorf("%w: no token signing key (userlist_authenticator.signing_key)", ErrConfig)
	}
	a := &Authenticator{cfg: cfg, secret: cfg.ClientSecret, key: opts.Key, now: opts.Now, log: opts.Log, client: opts.HTTPClient,
		metrics: opts.Metrics}
	if cfg.ClientSecretFile != "" {
		b, err := os.ReadFile(cfg.ClientSecretFile)
		if err != nil {
			return nil, fmt.Errorf("%w: client_secret_file: %w", ErrConfig, err)
		}
		a.secret = strings.TrimSpace(string(b))
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = logrus.NewEntry(logrus.New())
	}
	if a.client == nil {
		var err error
		if a.client, err = providerClient(cfg.CA); err != nil {
			return nil, err
		}
	}
	a.sessions = newSessions(cfg.MaxSessions)
	a.bg, a.cancel = context.WithCancel(context.Background())
	return a, nil
}

// Reload forgets the discovered provider and its cached JWKS: the next
// login discovers again. Keys the provider has withdrawn are otherwise
// trusted until a restart (the key set is refetched only for an
// unknown kid). Flows in progress keep their sessions.
func (a *Authenticator) Reload() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.provider, a.verifier = nil, nil
}

// Close stops the device flows in progress.
func (a *Authenticator) Close() { a.cancel() }

func providerClient(caFile string) (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("%w: ca: %w", ErrConfig, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: ca %s holds no certificate", ErrConfig, caFile)
		}
		tc.RootCAs = pool
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment}}, nil
}

// ctx carries the provider HTTP client for go-oidc and oauth2.
func (a *Authenticator) ctx(parent context.Context) context.Context {
	return oidc.ClientContext(parent, a.client)
}

// discover returns the provider and the ID token verifier, running
// discovery when it has not succeeded yet.
func (a *Authenticator) discover(ctx context.Context) (*oidc.Provider, *oidc.IDTokenVerifier, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.provider != nil {
		return a.provider, a.verifier, nil
	}
	p, err := oidc.NewProvider(a.ctx(ctx), a.cfg.Issuer)
	if err != nil {
		return nil, nil, refuse("provider", "the identity provider could not be reached", fmt.Errorf("discovery of %s: %w", a.cfg.Issuer, err))
	}
	// One key set for the service's life: it fetches the JWKS again
	// when a token names a kid it does not hold (key rotation).
	a.provider, a.verifier = p, p.Verifier(&oidc.Config{ClientID: a.cfg.ClientID,
		SupportedSigningAlgs: a.cfg.SigningAlgorithms, Now: a.now})
	return a.provider, a.verifier, nil
}

// oauth2Config is the client configuration, with redirect for the code flow.
func (a *Authenticator) oauth2Config(p *oidc.Provider, redirect string) *oauth2.Config {
	return &oauth2.Config{ClientID: a.cfg.ClientID, ClientSecret: a.secret, Endpoint: p.Endpoint(),
		Scopes: a.cfg.Scopes, RedirectURL: redirect}
}

// VerifyIDToken checks raw as the doc comment of the package lists, up
// to and including the second factor, and returns who it names. nonce
// is the value the flow sent ("" for the device flow, where the token
// must then carry none).
func (a *Authenticator) VerifyIDToken(ctx context.Context, raw, nonce string) (*Identity, error) {
	_, v, err := a.discover(ctx)
	if err != nil {
		return nil, err
	}
	tok, err := v.Verify(a.ctx(ctx), raw)
	if err != nil {
		return nil, refuse("bad_token", "the identity provider's answer did not verify", err)
	}
	if tok.Nonce != nonce {
		return nil, refuse("nonce", "the sign-in answered another login attempt (nonce mismatch)",
			fmt.Errorf("nonce %q, want %q", tok.Nonce, nonce))
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return nil, refuse("bad_token", "the ID token's claims could not be read", err)
	}
	id := &Identity{Issuer: tok.Issuer, Subject: tok.Subject}
	id.Username, _ = claims[a.cfg.UsernameClaim].(string)
	if id.Username == "" || strings.ContainsAny(id.Username, " \t\r\n=") {
		return nil, refuse("no_username", fmt.Sprintf("the ID token has no usable %q claim", a.cfg.UsernameClaim),
			fmt.Errorf("subject %s: claim %q is %v", tok.Subject, a.cfg.UsernameClaim, claims[a.cfg.UsernameClaim]))
	}
	groups, ok := lookupClaim(claims, a.cfg.GroupsClaim)
	if !ok {
		return id, refuse("no_groups", fmt.Sprintf("the ID token has no %q claim: ask the identity provider's administrator to release it to this client", a.cfg.GroupsClaim),
			fmt.Errorf("user %s: no claim %q", id.Username, a.cfg.GroupsClaim))
	}
	id.Groups = groups
	id.AMR = stringList(claims["amr"])
	id.ACR, _ = claims["acr"].(string)
	if a.cfg.RequireSecondFactor && !a.secondFactor(id) {
		return id, refuse("second_factor", fmt.Sprintf("this service requires a second factor, but the sign-in used %v (acr %q); sign in again with one of %v",
			id.AMR, id.ACR, a.cfg.SecondFactorAMR), fmt.Errorf("user %s: amr %v acr %q", id.Username, id.AMR, id.ACR))
	}
	return id, nil
}

func (a *Authenticator) secondFactor(id *Identity) bool {
	for _, m := range id.AMR {
		if slices.Contains(a.cfg.SecondFactorAMR, m) {
			return true
		}
	}
	return id.ACR != "" && slices.Contains(a.cfg.SecondFactorACR, id.ACR)
}

// lookupClaim walks a dotted claim name and reads a list of strings or
// one string.
func lookupClaim(claims map[string]any, name string) ([]string, bool) {
	var v any = claims
	for part := range strings.SplitSeq(name, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[part]; !ok {
			return nil, false
		}
	}
	switch v.(type) {
	case string, []any:
		return stringList(v), true
	}
	return nil, false
}

func stringList(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// Entitle maps id's groups to the user a token is issued for and its
// lifetime. Groups are taken in configuration order: the first matched
// group gives the caller id prefix, organization and every field not
// merged; acls are the union, properties and broker permissions merged
// (the first group to set a property wins), the lifetime the shortest.
func (a *Authenticator) Entitle(id *Identity) (*login.User, time.Duration, error) {
	var u *login.User
	validity := a.cfg.Validity
	for i := range a.cfg.Groups {
		g := &a.cfg.Groups[i]
		if !slices.Contains(id.Groups, g.Group) {
			continue
		}
		if u == nil {
			c := g.User
			c.Username, c.CallerID = id.Username, g.CallerIDPrefix+id.Username
			c.ACLs, c.Properties, c.BrokerPermissions = nil, map[string]string{}, map[string]bool{}
			u = &c
		}
		for _, acl := range g.ACLs {
			if !slices.Contains(u.ACLs, acl) {
				u.ACLs = append(u.ACLs, acl)
			}
		}
		for k, v := range g.Properties {
			if _, set := u.Properties[k]; !set {
				u.Properties[k] = v
			}
		}
		for k, v := range g.BrokerPermissions {
			u.BrokerPermissions[k] = u.BrokerPermissions[k] || v
		}
		if g.Validity > 0 && g.Validity < validity {
			validity = g.Validity
		}
	}
	if u == nil {
		return nil, 0, refuse("no_entitlement", fmt.Sprintf("user %s is in no group entitled to use the fleet (groups %v)", id.Username, id.Groups),
			fmt.Errorf("user %s (sub %s): groups %v", id.Username, id.Subject, id.Groups))
	}
	if len(u.Properties) == 0 {
		u.Properties = nil
	}
	return u, validity, nil
}

// issue verifies raw, entitles its user and signs a token bound to pub.
func (a *Authenticator) issue(ctx context.Context, raw, nonce string, pub ed25519.PublicKey) (string, *Identity, error) {
	id, err := a.VerifyIDToken(ctx, raw, nonce)
	if err != nil {
		return "", id, err
	}
	u, validity, err := a.Entitle(id)
	if err != nil {
		return "", id, err
	}
	ts, err := login.NewTokenSigner(a.key, validity, a.now)
	if err != nil {
		return "", id, err
	}
	tok, err := ts.Issue(u, pub)
	if err != nil {
		return "", id, fmt.Errorf("%w: %w", login.ErrIssue, err)
	}
	return tok, id, nil
}

// idToken takes the ID token out of a token response.
func idToken(t *oauth2.Token) (string, error) {
	raw, _ := t.Extra("id_token").(string)
	if raw == "" {
		return "", refuse("bad_token", "the identity provider answered without an ID token (is the openid scope allowed?)", errors.New("no id_token in the token response"))
	}
	return raw, nil
}
