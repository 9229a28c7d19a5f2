package signer_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tuttifleet/tutti/aaa/login"
	"github.com/tuttifleet/tutti/aaa/signer"
	"github.com/tuttifleet/tutti/aaa/signer/signertest"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security/x509"
)

// verifySecure checks a signed secure request the way a node does and
// returns the decoded request.
func verifySecure(t *testing.T, env *signertest.Env, secure []byte) *protocol.Request {
	t.Helper()
	sr, err := protocol.DecodeSecureRequest(secure)
	if err != nil {
		t.Fatal(err)
	}
	req, err := protocol.DecodeRequest(sr.Message)
	if err != nil {
		t.Fatal(err)
	}
	node, err := x509.NewFromPEM(nil, nil, env.CA.CertPEM, x509.Config{})
	if err != nil {
		t.Fatal(err)
	}
	caller, err := node.VerifyRequest(sr.Message, sr.Signature, sr.PubCert, req.CallerID)
	if err != nil {
		t.Fatalf("node refuses the signed request: %v", err)
	}
	if !caller.Privileged || caller.CertName != "aaa.privileged.mcollective" {
		t.Fatalf("caller = %+v, want the privileged signer", caller)
	}
	return req
}

// tokenAt issues a token with the service's JWT key and a chosen clock.
func tokenAt(t *testing.T, env *signertest.Env, at time.Time, u login.User, pub ed25519.PublicKey) string {
	t.Helper()
	key, err := login.LoadSigningKey(env.Config.Userlist.SigningKey)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := login.NewTokenSigner(key, time.Hour, func() time.Time { return at })
	if err != nil {
		t.Fatal(err)
	}
	if u.CallerID == "" {
		u.CallerID = "up=" + u.Username
	}
	tok, err := ts.Issue(&u, pub)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestSignVectors(t *testing.T) {
	env := signertest.Start(t, signertest.Options{})
	tok, seed := env.Login(t, "bob")
	now := time.Now()
	req := func(agent, action string) []byte {
		return signertest.Request(t, agent, action, "up=bob", now, 60)
	}
	seed2Pub, seed2, _ := ed25519.GenerateKey(rand.Reader)
	parts := strings.Split(tok, ".")
	tamperedClaims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tamperedClaims = bytes.Replace(tamperedClaims, []byte(`"rpcutil.*"`), []byte(`"*"`), 1)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(tamperedClaims) + "." + parts[2]
	noneTok, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{
		"callerid": "up=bob", "agents": []string{"*"}, "purpose": login.Purpose,
		"public_key": hex.EncodeToString(seed2Pub), "exp": now.Add(time.Hour).Unix(),
	}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	expired := tokenAt(t, env, now.Add(-2*time.Hour), login.User{Username: "bob", ACLs: []string{"*"}}, seed2Pub)
	wildcard := tokenAt(t, env, now, login.User{Username: "bob", ACLs: []string{"*"}}, seed2Pub)
	noDot := tokenAt(t, env, now, login.User{Username: "bob", ACLs: []string{"rpcutil"}}, seed2Pub)
	empty := tokenAt(t, env, now, login.User{Username: "bob"}, seed2Pub)
	dotted := tokenAt(t, env, now, login.User{Username: "bob.smith", ACLs: []string{"*"}}, seed2Pub)
	mismatch := func() []byte {
		b, _ := protocol.EncodeRequest(&protocol.Request{ID: protocol.NewRequestID(), SenderID: "x", CallerID: "up=bob",
			Collective: "mcollective", Agent: "puppet", TTL: 60, Time: now.Unix(), Filter: protocol.NewFilter("puppet"),
			Message: `{"agent":"rpcutil","action":"disable","data":{}}`})
		return b
	}()
	replay := req("rpcutil", "ping")

	cases := []struct {
		name     string
		token    string
		seed     ed25519.PrivateKey
		request  []byte
		wantCode string
		caller   string
	}{
		{"1 rpcutil#ping", tok, seed, req("rpcutil", "ping"), "", "up=bob"},
		{"2 puppet#status", tok, seed, req("puppet", "status"), "", "up=bob"},
		{"3 puppet#disable", tok, seed, req("puppet", "disable"), signer.CodeNotAllowed, ""},
		{"4 discovery", tok, seed, req("discovery", ""), "", "up=bob"},
		{"5 envelope/payload agent mismatch", tok, seed, mismatch, signer.CodeAgentMismatch, ""},
		{"6 callerid of someone else", tok, seed, signertest.Request(t, "rpcutil", "ping", "choria=mallory", now, 60), signer.CodeCallerMismatch, ""},
		{"7 one day old", tok, seed, signertest.Request(t, "rpcutil", "ping", "up=bob", now.Add(-24*time.Hour), 60), signer.CodeStale, ""},
		{"7 one day ahead", tok, seed, signertest.Request(t, "rpcutil", "ping", "up=bob", now.Add(24*time.Hour), 60), signer.CodeStale, ""},
		{"7 ttl above max_ttl", tok, seed, signertest.Request(t, "rpcutil", "ping", "up=bob", now, 7200), signer.CodeStale, ""},
		{"8 first", tok, seed, replay, "", "up=bob"},
		{"8 replayed", tok, seed, replay, signer.CodeReplayed, ""},
		{"9 signature by another key", tok, seed2, req("rpcutil", "ping"), signer.CodeBadSignature, ""},
		{"9 no signature", tok, nil, req("rpcutil", "ping"), signer.CodeBadSignature, ""},
		{"10 expired", expired, seed2, req("rpcutil", "ping"), signer.CodeTokenExpired, ""},
		{"10 tampered", tampered, seed, req("puppet", "disable"), signer.CodeBadToken, ""},
		{"10 alg none", noneTok, seed2, req("rpcutil", "ping"), signer.CodeBadToken, ""},
		{"11 agents *", wildcard, seed2, req("puppet", "disable"), "", "up=bob"},
		{"12 entry without dot", noDot, seed2, req("rpcutil", "ping"), signer.CodeNotAllowed, ""},
		{"13 empty agents", empty, seed2, req("rpcutil", "ping"), signer.CodeNotAllowed, ""},
		{"dotted user is sanitised", dotted, seed2, signertest.Request(t, "rpcutil", "ping", "up=bob.smith", now, 60), "", "up=bob_smith"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			secure, code := env.Sign(t, tc.token, tc.request, tc.seed)
			if code != tc.wantCode {
				t.Fatalf("error_code = %q, want %q", code, tc.wantCode)
			}
			if tc.wantCode != "" {
				return
			}
			got := verifySecure(t, env, secure)
			if got.CallerID != tc.caller {
				t.Fatalf("signed callerid %q, want %q", got.CallerID, tc.caller)
			}
		})
	}

	t.Run("14 body {} is denied and not audited", func(t *testing.T) {
		before := len(env.AuditRecords(t))
		if _, code := env.Sign(t, tok, []byte(`{}`), seed); code != signer.CodeMalformed {
			t.Fatalf("code %q", code)
		}
		if after := len(env.AuditRecords(t)); after != before {
			t.Fatalf("audit grew from %d to %d", before, after)
		}
	})

	t.Run("audit", func(t *testing.T) {
		recs := env.AuditRecords(t)
		if len(recs) != len(cases) {
			t.Fatalf("%d audit records, want %d", len(recs), len(cases))
		}
		for i, r := range recs {
			wantAction := signer.DecisionAllow
			if cases[i].wantCode != "" {
				wantAction = signer.DecisionDeny
			}
			if r.Protocol != signer.AuditProtocol || r.Action != wantAction || r.Site != "test" ||
				len(r.RequestID) != 32 || (wantAction == signer.DecisionDeny && (r.Reason == "" || r.ErrorCode != cases[i].wantCode)) {
				t.Errorf("record %d (%s): %+v", i, cases[i].name, r)
			}
		}
		if r := recs[5]; r.RequestedCallerID != "choria=mallory" || r.CallerID != "up=bob" {
			t.Errorf("caller mismatch record: %+v", r)
		}
		if r := recs[0]; !bytes.Contains(r.Request, []byte(`"callerid":"up=bob"`)) {
			t.Errorf("allowed record holds %s", r.Request)
		}
	})
}

func TestBearerTokens(t *testing.T) {
	env := signertest.Start(t, signertest.Options{Configure: func(c *signer.Config) { c.BasicJWT.AllowBearerTokens = true }})
	tok, _ := env.Login(t, "bob")
	r := signertest.Request(t, "rpcutil", "ping", "choria=legacy.mcollective", time.Now(), 60)
	// The Ruby client sends MIME base64 with line breaks and no signature.
	b64 := base64.StdEncoding.EncodeToString(r)
	var mime strings.Builder
	for i := 0; i < len(b64); i += 60 {
		mime.WriteString(b64[i:min(i+60, len(b64))] + "\n")
	}
	code, out := env.Post(t, signer.SignPath, map[string]string{"token": tok, "request": mime.String()})
	if code != 200 || out["secure_request"] == "" {
		t.Fatalf("%d %v", code, out)
	}
	sec, _ := base64.StdEncoding.DecodeString(out["secure_request"])
	if got := verifySecure(t, env, sec); got.CallerID != "up=bob" {
		t.Fatalf("callerid %q", got.CallerID)
	}
	recs := env.AuditRecords(t)
	if len(recs) != 1 || recs[0].Reason != "bearer" || recs[0].RequestedCallerID != "choria=legacy.mcollective" {
		t.Fatalf("audit %+v", recs)
	}
}

func TestLoginE2E(t *testing.T) {
	env := signertest.Start(t, signertest.Options{})
	body, _ := signertest.LoginBody("bob", signertest.Password, time.Now())
	code, out := env.Post(t, signer.LoginPath, body)
	if code != 200 || out["token"] == "" {
		t.Fatalf("login: %d %v", code, out)
	}
	t.Run("replayed login body", func(t *testing.T) {
		if code, out := env.Post(t, signer.LoginPath, body); code != 200 || out["error"] != "Login failed" {
			t.Fatalf("%d %v", code, out)
		}
	})
	t.Run("bad password and unknown user look the same", func(t *testing.T) {
		b1, _ := signertest.LoginBody("bob", "wrong", time.Now())
		b2, _ := signertest.LoginBody("nobody", signertest.Password, time.Now())
		c1, o1 := env.Post(t, signer.LoginPath, b1)
		c2, o2 := env.Post(t, signer.LoginPath, b2)
		if c1 != 200 || c2 != 200 || o1["error"] != "Login failed" || len(o1) != 1 || o2["error"] != o1["error"] || len(o2) != 1 {
			t.Fatalf("%d %v / %d %v", c1, o1, c2, o2)
		}
	})
	t.Run("rate limited", func(t *testing.T) {
		// bob has 3 failures of budget (signertest sets user_burst 3); 2
		// are spent above (replay, wrong password).
		b, _ := signertest.LoginBody("bob", "wrong", time.Now())
		env.Post(t, signer.LoginPath, b)
		good, _ := signertest.LoginBody("bob", signertest.Password, time.Now())
		raw, _ := jsonBytes(good)
		resp, err := env.Client.Post(env.URL+signer.LoginPath, "application/json", bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("status %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	})
}

func TestHTTPErrors(t *testing.T) {
	env := signertest.Start(t, signertest.Options{Configure: func(c *signer.Config) { c.MonitorPort = -1 }})
	do := func(method, path, ctype, body string) (int, string) {
		req, _ := http.NewRequest(method, env.URL+path, strings.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := env.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	cases := []struct {
		name, method, path, ctype, body string
		status                          int
		contains                        string
	}{
		{"GET", "GET", signer.SignPath, "", "", 405, "method GET is not allowed, but [POST] are"},
		{"content type", "POST", signer.SignPath, "text/plain", "{}", 415, "unsupported media type"},
		{"empty body", "POST", signer.LoginPath, "application/json", "", 422, `"code":602`},
		{"bad json", "POST", signer.SignPath, "application/json", "{", 400, "parsing request body"},
		{"request not base64", "POST", signer.SignPath, "application/json", `{"token":"x","request":"%%%"}`, 400, "not base64"},
		{"unknown path", "POST", "/choria/v1/nope", "application/json", "{}", 404, "path /choria/v1/nope was not found"},
		{"health", "GET", signer.HealthPath, "", "", 200, `"ok"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := do(tc.method, tc.path, tc.ctype, tc.body)
			if status != tc.status || !strings.Contains(body, tc.contains) {
				t.Fatalf("%d %s, want %d containing %q", status, body, tc.status, tc.contains)
			}
		})
	}
	t.Run("metrics", func(t *testing.T) {
		tok, seed := env.Login(t, "bob")
		env.Sign(t, tok, signertest.Request(t, "rpcutil", "ping", "up=bob", time.Now(), 60), seed)
		env.Sign(t, tok, signertest.Request(t, "puppet", "disable", "up=bob", time.Now(), 60), seed)
		resp, err := http.Get("http://" + env.Service.MonitorAddr().String() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, want := range []string{
			`tutti_aaa_sign_total{decision="allow",reason="ok",site="test"} 1`,
			`tutti_aaa_sign_total{decision="deny",reason="not_allowed",site="test"} 1`,
			`tutti_aaa_login_total{reason="",result="ok",site="test"} 1`,
			`tutti_aaa_sign_seconds_count{decision="allow",site="test"} 1`,
			`tutti_aaa_sso_login_total{flow="device",reason="ok",result="ok",site="test"} 0`,
		} {
			if !strings.Contains(string(b), want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})
}

func TestTLS(t *testing.T) {
	env := signertest.Start(t, signertest.Options{})
	t.Run("client with another CA refuses the service", func(t *testing.T) {
		other := signertest.Start(t, signertest.Options{})
		_, err := other.Client.Post(env.URL+signer.LoginPath, "application/json", strings.NewReader("{}"))
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("err = %v, want a certificate verification error", err)
		}
	})
	t.Run("mTLS required with tls_ca", func(t *testing.T) {
		m := signertest.Start(t, signertest.Options{Configure: func(c *signer.Config) { c.TLSCA = c.PrivilegedCA }})
		_, err := m.Client.Post(m.URL+signer.HealthPath, "application/json", strings.NewReader("{}"))
		if err == nil {
			t.Fatal("a client without a certificate was served")
		}
		cert, _ := tls.X509KeyPair(m.Privileged.CertPEM, m.Privileged.KeyPEM)
		m.Client.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{cert}
		resp, err := m.Client.Get(m.URL + signer.HealthPath)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	})
}

func TestReloadRotatesPrivilegedCertificate(t *testing.T) {
	env := signertest.Start(t, signertest.Options{})
	tok, seed := env.Login(t, "bob")
	next, err := env.CA.Issue("aaa.privileged.mcollective", x509.IssueOptions{KeyType: x509.KeyRSA})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, env.Config.PrivilegedCertificate, next.CertPEM)
	writeFile(t, env.Config.PrivilegedKey, next.KeyPEM)
	if err := env.Service.Reload(); err != nil {
		t.Fatal(err)
	}
	sec, code := env.Sign(t, tok, signertest.Request(t, "rpcutil", "ping", "up=bob", time.Now(), 60), seed)
	if code != "" {
		t.Fatal(code)
	}
	verifySecure(t, env, sec)
	sr, _ := protocol.DecodeSecureRequest(sec)
	if !bytes.Equal(sr.PubCert, next.CertPEM) {
		t.Fatal("the signer still uses the old certificate after Reload")
	}
}

func TestCachedTokenExpires(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	env := signertest.Start(t, signertest.Options{Now: clock})
	tok, seed := env.Login(t, "bob")
	if _, code := env.Sign(t, tok, signertest.Request(t, "rpcutil", "ping", "up=bob", clock(), 60), seed); code != "" {
		t.Fatal(code)
	}
	mu.Lock()
	now = now.Add(time.Hour + time.Second)
	mu.Unlock()
	if _, code := env.Sign(t, tok, signertest.Request(t, "rpcutil", "ping", "up=bob", clock(), 60), seed); code != signer.CodeTokenExpired {
		t.Fatalf("code %q after the token's exp, want %s", code, signer.CodeTokenExpired)
	}
}
