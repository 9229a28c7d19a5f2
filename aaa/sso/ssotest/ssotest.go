// Package ssotest runs a real OpenID provider for tests: zitadel's op
// package (certified OpenID Connect provider library) over TLS on a
// random port, with its in-memory example storage, a client that may
// use the device grant and the code grant with loopback redirects, users
// with groups and amr, and a key set that can rotate. The "browser" of a
// test signs users in through the provider's own HTTP endpoints.
//
// Test support only: the product never imports it (internal/deps).
package ssotest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

// Password is every test user's password.
const Password = "correct horse"

// User is a user of the provider.
type User struct {
	Username string
	// Groups is the groups claim; nil leaves the claim out.
	Groups []string
	// AMR is the amr claim of the user's sign-ins; default ["pwd"].
	AMR []string
}

// Client is a client registered at the provider.
type Client struct {
	ID, Secret string
	// IDTokenLifetime; default one hour.
	IDTokenLifetime time.Duration
}

// Options shape the provider.
type Options struct {
	// Clients; default one: "tutti-aaa" with secret "s3cret".
	Clients []Client
	Users   []User
	// KeysFrom, when set, makes this provider sign with that provider's
	// keys (one key across issuers, as multi-tenant providers do).
	KeysFrom *Provider
}

// Provider is a running OpenID provider.
type Provider struct {
	// Issuer is the issuer URL (https://127.0.0.1:port).
	Issuer string
	// CAFile is the PEM file of the provider's TLS certificate.
	CAFile string
	// HTTPClient trusts the provider and does not follow redirects.
	HTTPClient *http.Client
	Clients    []Client

	store *store
	op    *op.Provider
}

// Start runs a provider until the test ends.
func Start(t testing.TB, opts Options) *Provider {
	t.Helper()
	if len(opts.Clients) == 0 {
		opts.Clients = []Client{{ID: "tutti-aaa", Secret: "s3cret"}}
	}
	srv := httptest.NewUnstartedServer(nil)
	issuer := "https://" + srv.Listener.Addr().String()
	st, err := newStore(issuer, opts)
	if err != nil {
		t.Fatal(err)
	}
	key := [32]byte{}
	if _, err := rand.Read(key[:]); err != nil {
		t.Fatal(err)
	}
	prov, err := op.NewProvider(&op.Config{
		CryptoKey: key, CodeMethodS256: true, AuthMethodPost: true,
		SupportedUILocales: []language.Tag{language.English},
		DeviceAuthorization: op.DeviceAuthorizationConfig{Lifetime: 5 * time.Minute, PollInterval: time.Second,
			UserFormPath: "/device", UserCode: op.UserCodeBase20},
	}, st, op.StaticIssuer(issuer))
	if err != nil {
		t.Fatal(err)
	}
	p := &Provider{Issuer: issuer, Clients: opts.Clients, store: st, op: prov}
	mux := http.NewServeMux()
	ui := op.NewIssuerInterceptor(prov.IssuerFromRequest)
	mux.Handle("/login", ui.HandlerFunc(p.handleLogin))
	mux.Handle("/device", ui.HandlerFunc(p.handleDevice))
	mux.Handle("/", prov)
	srv.Config.Handler = mux
	srv.StartTLS()
	t.Cleanup(srv.Close)
	p.CAFile = filepath.Join(t.TempDir(), "idp-ca.pem")
	if err := os.WriteFile(p.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	p.HTTPClient = srv.Client()
	p.HTTPClient.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return p
}

// handleLogin is the provider's sign-in page for the code flow:
// POST id, username, password.
func (p *Provider) handleLogin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		fmt.Fprintf(w, `<form method="post"><input name="id" value=%q><input name="username"><input name="password" type="password"></form>`, r.FormValue("authRequestID"))
		return
	}
	id := r.FormValue("id")
	if err := p.store.CheckUsernamePassword(r.FormValue("username"), r.FormValue("password"), id); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	http.Redirect(w, r, op.AuthCallbackURL(p.op)(r.Context(), id), http.StatusFound)
}

// handleDevice is the provider's device sign-in page: POST user_code,
// username, password; the sign-in is approved at once.
func (p *Provider) handleDevice(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		fmt.Fprint(w, `<form method="post"><input name="user_code"><input name="username"><input name="password" type="password"></form>`)
		return
	}
	user, code := r.FormValue("username"), r.FormValue("user_code")
	if err := p.store.CheckUsernamePasswordSimple(user, r.FormValue("password")); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if err := p.store.completeDevice(r.Context(), code, user); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	fmt.Fprint(w, "signed in; return to your terminal")
}

// RotateKey makes a new signing key current; the old one stays in the
// JWKS (as providers publish the previous key for a while).
func (p *Provider) RotateKey() error { return p.store.rotate(false) }

// CurrentKeyID is the kid the provider signs with now.
func (p *Provider) CurrentKeyID() string {
	k, _ := p.store.SigningKey(context.Background())
	return k.ID()
}

// SignWithStrayKey signs claims with a fresh RSA key that the JWKS does
// not hold, under kid.
func SignWithStrayKey(claims any, kid string) (string, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", err
	}
	return signJWT(&signingKey{id: kid, key: k}, claims)
}

func signJWT(k *signingKey, claims any) (string, error) {
	s, err := op.SignerFromKey(k)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := s.Sign(b)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// store is the example storage with this package's clients, users,
// groups, amr and rotating keys.
type store struct {
	*storage.Storage
	clients map[string]*client
	users   map[string]*User

	mu   sync.Mutex
	keys []*signingKey // the last is current
}

func newStore(issuer string, opts Options) (*store, error) {
	s := &store{clients: map[string]*client{}, users: map[string]*User{}}
	exClients := map[string]*storage.Client{}
	for _, c := range opts.Clients {
		s.clients[c.ID] = &client{Client: c}
		// the example storage checks its own map before storing a device code
		exClients[c.ID] = storage.DeviceClient(c.ID, c.Secret)
	}
	us := userStore{}
	for i := range opts.Users {
		u := opts.Users[i]
		if u.AMR == nil {
			u.AMR = []string{"pwd"}
		}
		s.users[u.Username] = &u
		us[u.Username] = &storage.User{ID: u.Username, Username: u.Username, Password: Password,
			Email: u.Username + "@example.com", EmailVerified: true, PreferredLanguage: language.English}
	}
	s.Storage = storage.NewStorageWithClients(us, exClients)
	if opts.KeysFrom != nil {
		opts.KeysFrom.store.mu.Lock()
		defer opts.KeysFrom.store.mu.Unlock()
		s.keys = slices.Clone(opts.KeysFrom.store.keys)
		return s, nil
	}
	return s, s.rotate(true)
}

func (s *store) rotate(drop bool) error {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	nk := &signingKey{id: fmt.Sprintf("key-%d", len(s.keys)+1), key: k}
	if drop {
		s.keys = nil
	}
	s.keys = append(s.keys, nk)
	return nil
}

// SigningKey implements op.Storage.
func (s *store) SigningKey(context.Context) (op.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[len(s.keys)-1], nil
}

// SignatureAlgorithms implements op.Storage.
func (s *store) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

// KeySet implements op.Storage.
func (s *store) KeySet(context.Context) ([]op.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]op.Key, 0, len(s.keys))
	for _, k := range s.keys {
		out = append(out, publicKey{k})
	}
	return out, nil
}

// GetClientByClientID implements op.Storage.
func (s *store) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	c, ok := s.clients[id]
	if !ok {
		return nil, errors.New("client not found")
	}
	return c, nil
}

// AuthorizeClientIDSecret implements op.Storage.
func (s *store) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	c, ok := s.clients[id]
	if !ok || c.Secret != secret {
		return errors.New("invalid client credentials")
	}
	return nil
}

// SetUserinfoFromScopes adds the groups claim to the example's claims.
func (s *store) SetUserinfoFromScopes(ctx context.Context, ui *oidc.UserInfo, userID, clientID string, scopes []string) error {
	if err := s.Storage.SetUserinfoFromScopes(ctx, ui, userID, clientID, scopes); err != nil {
		return err
	}
	if u, ok := s.users[userID]; ok && u.Groups != nil && slices.Contains(scopes, "groups") {
		ui.AppendClaims("groups", u.Groups)
	}
	return nil
}

// AuthRequestByCode gives the code flow's ID token the user's amr.
func (s *store) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	r, err := s.Storage.AuthRequestByCode(ctx, code)
	if err != nil {
		return nil, err
	}
	if u, ok := s.users[r.GetSubject()]; ok {
		return amrRequest{AuthRequest: r, amr: u.AMR}, nil
	}
	return r, nil
}

type amrRequest struct {
	op.AuthRequest
	amr []string
}

func (r amrRequest) GetAMR() []string { return r.amr }

// completeDevice approves a device sign-in with the user's amr.
func (s *store) completeDevice(ctx context.Context, userCode, user string) error {
	st, err := s.GetDeviceAuthorizationByUserCode(ctx, userCode)
	if err != nil {
		return err
	}
	// Set before CompleteDeviceAuthorization takes the storage lock, so
	// the token endpoint, which takes it after, sees these writes.
	st.AMR, st.AuthTime = s.users[user].AMR, time.Now()
	return s.CompleteDeviceAuthorization(ctx, userCode, user)
}

type userStore map[string]*storage.User

func (u userStore) GetUserByID(id string) *storage.User { return u[id] }
func (u userStore) GetUserByUsername(name string) *storage.User {
	return u[name]
}
func (userStore) ExampleClientID() string { return "" }

type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *signingKey) Key() any                                    { return k.key }
func (k *signingKey) ID() string                                  { return k.id }

type publicKey struct{ *signingKey }

func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return &k.key.PublicKey }

// client is a confidential (web) client with loopback redirects on
// any port (RFC 8252 §7.3, by a redirect glob), the code and device
// grants, and the user's claims (groups) in the ID token.
type client struct{ Client }

func (c *client) RedirectURIGlobs() []string {
	return []string{"http://127.0.0.1:*/callback", "http://[[]::1]:*/callback", "http://localhost:*/callback"}
}
func (c *client) PostLogoutRedirectURIGlobs() []string { return nil }

func (c *client) GetID() string                       { return c.ID }
func (c *client) RedirectURIs() []string              { return []string{"http://127.0.0.1/callback"} }
func (c *client) PostLogoutRedirectURIs() []string    { return nil }
func (c *client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c *client) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodBasic }
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeDeviceCode}
}
func (c *client) LoginURL(id string) string           { return "/login?authRequestID=" + id }
func (c *client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c *client) IDTokenLifetime() time.Duration {
	if c.Client.IDTokenLifetime > 0 {
		return c.Client.IDTokenLifetime
	}
	return time.Hour
}
func (c *client) DevMode() bool { return false }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) IsScopeAllowed(scope string) bool     { return scope == "groups" }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *client) ClockSkew() time.Duration             { return 0 }
