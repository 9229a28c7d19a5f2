package login

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"
)

func mustHash(t testing.TB, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestParseUsers(t *testing.T) {
	h := mustHash(t, "secret")
	cases := []struct {
		name    string
		doc     string
		wantErr string
		check   func(t *testing.T, us []User)
	}{
		{name: "yaml list", doc: "- username: bob\n  password: '" + h + "'\n  acls: [rpcutil.*]\n  agents: [puppet.status]\n",
			check: func(t *testing.T, us []User) {
				if us[0].CallerID != "up=bob" || us[0].Organization != "choria" {
					t.Errorf("defaults not applied: %+v", us[0])
				}
				if strings.Join(us[0].ACLs, ",") != "rpcutil.*,puppet.status" {
					t.Errorf("acls = %v", us[0].ACLs)
				}
			}},
		{name: "yaml mapping", doc: "users:\n  - username: alice\n    password: '" + h + "'\n    callerid: choria=alice.mcollective\n    properties: {group: admins}\n",
			check: func(t *testing.T, us []User) {
				if us[0].CallerID != "choria=alice.mcollective" || us[0].Properties["group"] != "admins" {
					t.Errorf("got %+v", us[0])
				}
			}},
		{name: "aaasvc json with tabs", doc: "[\n\t{\"username\":\"bob\",\"password\":\"" + h + "\",\"organization\":\"acme\",\"acls\":[\"*\"],\"broker_permissions\":{\"events_viewer\":true}}\n]",
			check: func(t *testing.T, us []User) {
				if us[0].Organization != "acme" || !us[0].BrokerPermissions["events_viewer"] {
					t.Errorf("got %+v", us[0])
				}
			}},
		{name: "empty", doc: "  ", wantErr: "empty"},
		{name: "plain password", doc: "- {username: bob, password: secret}", wantErr: "not a bcrypt hash"},
		{name: "acl without dot", doc: "- {username: bob, password: '" + h + "', acls: [rpcutil]}", wantErr: `acl "rpcutil"`},
		{name: "acl with two dots", doc: "- {username: bob, password: '" + h + "', acls: [a.b.c]}", wantErr: `acl "a.b.c"`},
		{name: "duplicate", doc: "- {username: bob, password: '" + h + "'}\n- {username: bob, password: '" + h + "'}", wantErr: "listed twice"},
		{name: "bad callerid", doc: "- {username: bob, password: '" + h + "', callerid: 'bob smith'}", wantErr: "callerid"},
		{name: "colon in name", doc: "- {username: 'b:ob', password: '" + h + "'}", wantErr: "username"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			us, err := ParseUsers([]byte(tc.doc))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrUsers) {
					t.Fatalf("err = %v, want one containing %q wrapping ErrUsers", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, us)
		})
	}
}

func TestUsersFileReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.yaml")
	write := func(name string, mtime time.Time) {
		doc := "- username: " + name + "\n  password: '" + mustHash(t, "pw") + "'\n"
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	write("bob", time.Now().Add(-time.Hour))
	u, err := LoadUsersFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := u.Lookup("bob"); !ok {
		t.Fatal("bob not loaded")
	}
	write("carol", time.Now())
	u.lastCheck.Store(0) // pretend the check interval passed
	if _, ok := u.Lookup("carol"); !ok {
		t.Fatal("carol not loaded after the file changed")
	}
	if _, ok := u.Lookup("bob"); ok {
		t.Fatal("bob still present after reload")
	}
	if err := os.WriteFile(path, []byte("- {username: x, password: nope}"), 0o600); err != nil {
		t.Fatal(err)
	}
	u.lastCheck.Store(0)
	if _, ok := u.Lookup("carol"); !ok {
		t.Fatal("a broken file must keep the previous list")
	}
}

type testKeys struct {
	name string
	sign *TokenSigner
	ver  *TokenVerifier
	pub  any
}

func newKeys(t testing.TB, rsaKey bool, now func() time.Time) testKeys {
	t.Helper()
	var k testKeys
	var err error
	if rsaKey {
		key, _ := rsa.GenerateKey(rand.Reader, 2048)
		k.name, k.pub = "RS256", &key.PublicKey
		k.sign, err = NewTokenSigner(key, time.Hour, now)
	} else {
		_, key, _ := ed25519.GenerateKey(rand.Reader)
		k.name, k.pub = "EdDSA", key.Public()
		k.sign, err = NewTokenSigner(key, time.Hour, now)
	}
	if err != nil {
		t.Fatal(err)
	}
	if k.ver, err = NewTokenVerifier(k.pub, time.Hour, now); err != nil {
		t.Fatal(err)
	}
	return k
}

func testUser(t testing.TB) *User {
	us, err := NewUsers([]User{{Username: "bob.smith", Password: mustHash(t, "secret"),
		ACLs: []string{"rpcutil.*", "puppet.status"}, Properties: map[string]string{"group": "admins"}}})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := us.Lookup("bob.smith")
	return u
}

func TestTokenRoundTrip(t *testing.T) {
	for _, useRSA := range []bool{false, true} {
		k := newKeys(t, useRSA, nil)
		t.Run(k.name, func(t *testing.T) {
			pub, _, _ := ed25519.GenerateKey(rand.Reader)
			tok, err := k.sign.Issue(testUser(t), pub)
			if err != nil {
				t.Fatal(err)
			}
			c, err := k.ver.Verify(tok)
			if err != nil {
				t.Fatal(err)
			}
			if c.CallerID != "up=bob.smith" || c.Purpose != Purpose || c.PublicKey != hex.EncodeToString(pub) ||
				c.OU != "choria" || c.Issuer != Issuer || len(c.ID) != 27 || c.UserProperties["group"] != "admins" {
				t.Errorf("claims = %+v", c)
			}
			if got := c.ExpiresAt.Sub(c.IssuedAt.Time); got != time.Hour {
				t.Errorf("lifetime %s", got)
			}
			hdr, _, _ := strings.Cut(tok, ".")
			if want := map[string]string{"RS256": "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9", "EdDSA": "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9"}[k.name]; hdr != want {
				t.Errorf("header %s, want %s", hdr, want)
			}
		})
	}
}

func TestTokenRefusals(t *testing.T) {
	base := time.Unix(1795357850, 0)
	clock := func() time.Time { return base }
	rk := newKeys(t, true, clock)
	ek := newKeys(t, false, clock)
	u := testUser(t)
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	good, _ := rk.sign.Issue(u, pub)

	claims := func(mod func(c *Claims)) *Claims {
		c := &Claims{CallerID: "up=bob", Purpose: Purpose, RegisteredClaims: jwt.RegisteredClaims{
			IssuedAt: jwt.NewNumericDate(base), NotBefore: jwt.NewNumericDate(base),
			ExpiresAt: jwt.NewNumericDate(base.Add(time.Hour))}}
		mod(c)
		return c
	}
	signRSA := func(c *Claims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, c).SignedString(rk.sign.key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims(func(*Claims) {})).SignedString(jwt.UnsafeAllowNoneSignatureType)
	// Algorithm confusion: HS256 keyed with the RSA public key's bytes.
	pubDER := rk.pub.(*rsa.PublicKey).N.Bytes()
	hs, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(func(*Claims) {})).SignedString(pubDER)
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + strings.TrimRight(parts[1], "=") + "x." + parts[2]

	cases := []struct {
		name  string
		ver   *TokenVerifier
		token string
		want  error
	}{
		{"expired", rk.ver, signRSA(claims(func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(base.Add(-time.Second)) })), ErrTokenExpired},
		{"no exp", rk.ver, signRSA(claims(func(c *Claims) { c.ExpiresAt = nil })), ErrTokenInvalid},
		{"nbf in future", rk.ver, signRSA(claims(func(c *Claims) { c.NotBefore = jwt.NewNumericDate(base.Add(time.Minute)) })), ErrTokenInvalid},
		{"iat in future", rk.ver, signRSA(claims(func(c *Claims) { c.IssuedAt = jwt.NewNumericDate(base.Add(time.Minute)) })), ErrTokenInvalid},
		{"wrong purpose", rk.ver, signRSA(claims(func(c *Claims) { c.Purpose = "choria_provisioning" })), ErrTokenInvalid},
		{"beyond max validity", rk.ver, signRSA(claims(func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(base.Add(48 * time.Hour)) })), ErrTokenInvalid},
		{"alg none", rk.ver, none, ErrTokenInvalid},
		{"hmac confusion", rk.ver, hs, ErrTokenInvalid},
		{"tampered payload", rk.ver, tampered, ErrTokenInvalid},
		{"other key type", ek.ver, good, ErrTokenInvalid},
		{"garbage", rk.ver, "not.a.token", ErrTokenInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.ver.Verify(tc.token)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("service tokens may outlive max validity", func(t *testing.T) {
		tok := signRSA(claims(func(c *Claims) {
			c.ExpiresAt = jwt.NewNumericDate(base.Add(48 * time.Hour))
			c.Permissions = &Permissions{Service: true}
		}))
		if _, err := rk.ver.Verify(tok); err != nil {
			t.Fatal(err)
		}
	})
}

// loginFixture is an Authenticator over one user, bob.smith / secret.
func loginFixture(t testing.TB, now func() time.Time, lim RateLimit) *Authenticator {
	t.Helper()
	us, err := NewUsers([]User{{Username: "bob.smith", Password: mustHash(t, "secret"), ACLs: []string{"*"}}})
	if err != nil {
		t.Fatal(err)
	}
	k := newKeys(t, false, now)
	a, err := NewAuthenticator(Config{Users: us, Tokens: k.sign, Limits: lim, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// SignedRequest builds a login body signed with a fresh key.
func signedRequest(user, pw string, ts time.Time) *Request {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	s := strconv.FormatInt(ts.Unix(), 10)
	return &Request{Username: user, Password: pw, Timestamp: s, PublicKey: hex.EncodeToString(pub),
		Signature: hex.EncodeToString(ed25519.Sign(priv, LoginMessage(s, user, pw)))}
}

func TestLogin(t *testing.T) {
	now := time.Unix(1795357850, 0)
	clock := func() time.Time { return now }
	a := loginFixture(t, clock, RateLimit{UserBurst: 100, AddrBurst: 100})
	replayed := signedRequest("bob.smith", "secret", now)
	if _, err := a.Login(replayed, "10.0.0.1"); err != nil {
		t.Fatalf("first login: %v", err)
	}
	cases := []struct {
		name   string
		req    *Request
		reason string
	}{
		{"bad password", signedRequest("bob.smith", "wrong", now), "bad_password"},
		{"unknown user", signedRequest("mallory", "secret", now), "unknown_user"},
		{"stale", signedRequest("bob.smith", "secret", now.Add(-61*time.Second)), "stale"},
		{"future", signedRequest("bob.smith", "secret", now.Add(6*time.Second)), "stale"},
		{"replayed body", replayed, "replayed"},
		{"replayed body, signature in upper case", func() *Request {
			r := *replayed
			r.Signature = strings.ToUpper(r.Signature)
			return &r
		}(), "replayed"},
		{"2019 body", &Request{Username: "bob.smith", Password: "secret"}, "bad_request"},
		{"signature over other text", func() *Request {
			r := signedRequest("bob.smith", "secret", now)
			r.Password = "secret2"
			return r
		}(), "bad_signature"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := a.Login(tc.req, "10.0.0.1")
			var f *Failure
			if !errors.Is(err, ErrLoginFailed) || !errors.As(err, &f) || f.Reason != tc.reason {
				t.Fatalf("err = %v, want a Failure with reason %s", err, tc.reason)
			}
		})
	}
}

func TestLoginRateLimit(t *testing.T) {
	now := time.Unix(1795357850, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	a := loginFixture(t, clock, RateLimit{UserBurst: 3, UserEvery: 10 * time.Second, AddrBurst: 5, AddrEvery: time.Minute})

	for i := range 3 {
		if _, err := a.Login(signedRequest("bob.smith", "wrong", clock()), "10.0.0.1"); errors.As(err, new(*RateLimitedError)) {
			t.Fatalf("attempt %d rate limited too early", i)
		}
	}
	_, err := a.Login(signedRequest("bob.smith", "secret", clock()), "10.0.0.2")
	var rl *RateLimitedError
	if !errors.As(err, &rl) || rl.Key != "user" || rl.RetryAfter <= 0 || rl.RetryAfter > 10*time.Second {
		t.Fatalf("4th login err = %v, want user rate limit", err)
	}
	mu.Lock()
	now = now.Add(10 * time.Second)
	mu.Unlock()
	if _, err := a.Login(signedRequest("bob.smith", "secret", clock()), "10.0.0.2"); err != nil {
		t.Fatalf("after refill: %v", err)
	}
	// Per address: spraying different users from one address.
	for i := range 5 {
		_, _ = a.Login(signedRequest("user"+strconv.Itoa(i), "x", clock()), "10.9.9.9")
	}
	if _, err := a.Login(signedRequest("bob.smith", "secret", clock()), "10.9.9.9"); !errors.As(err, &rl) || rl.Key != "address" {
		t.Fatalf("err = %v, want address rate limit", err)
	}
}

func TestConcurrentLogins(t *testing.T) {
	a := loginFixture(t, nil, RateLimit{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			_, err := a.Login(signedRequest("bob.smith", "secret", time.Now()), "10.0.0.1")
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestKeys(t *testing.T) {
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	seedHex := hex.EncodeToString(edPriv.Seed()) + "\n"
	k, err := ParseSigningKey([]byte(seedHex))
	if err != nil || !k.Public().(ed25519.PublicKey).Equal(edPriv.Public()) {
		t.Fatalf("seed: %v", err)
	}
	pub, err := ParseVerifyKey([]byte(hex.EncodeToString(edPriv.Public().(ed25519.PublicKey))))
	if err != nil || !pub.(ed25519.PublicKey).Equal(edPriv.Public()) {
		t.Fatalf("ed25519 hex public key: %v", err)
	}
	if _, err := ParseSigningKey([]byte("nonsense")); !errors.Is(err, ErrKey) {
		t.Fatalf("err = %v", err)
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	if _, err := NewTokenSigner(small, 0, nil); !errors.Is(err, ErrKey) || !strings.Contains(err.Error(), "1024") {
		t.Fatalf("1024-bit RSA: err = %v", err)
	}
}

func FuzzParseUsers(f *testing.F) {
	f.Add([]byte("- {username: bob, password: '$2a$04$abcdefghijklmnopqrstuu5Xx7o4fAqGK/O5YvWB3ZVkPvaYQrB2y'}"))
	f.Add([]byte(`[{"username":"bob","acls":["*"]}]`))
	f.Add([]byte(`{"users":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		us, err := ParseUsers(data)
		if err != nil {
			return
		}
		for _, u := range us {
			if u.Username == "" || !callerIDRe.MatchString(u.CallerID) {
				t.Fatalf("accepted invalid user %+v", u)
			}
		}
	})
}

func FuzzVerify(f *testing.F) {
	now := time.Unix(1795357850, 0)
	k := newKeys(f, false, func() time.Time { return now })
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	good, _ := k.sign.Issue(testUser(f), pub)
	f.Add(good)
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := k.ver.Verify(tok)
		if err == nil && (c.Purpose != Purpose || c.CallerID == "") {
			t.Fatalf("accepted %q with claims %+v", tok, c)
		}
	})
}
