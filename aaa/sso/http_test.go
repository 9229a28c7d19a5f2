package sso_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tuttifleet/tutti/aaa/sso"
)

func serve(t *testing.T, r *rig) string {
	t.Helper()
	mux := http.NewServeMux()
	r.a.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func post(t *testing.T, url string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func pkce() (verifier, challenge string) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	verifier = base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

func TestHTTPRefusesBadStarts(t *testing.T) {
	r := newRig(t, nil, nil, nil)
	base := serve(t, r)
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	_, ch := pkce()
	good := map[string]string{"public_key": hex.EncodeToString(pub), "redirect_uri": "http://127.0.0.1:4711/callback",
		"code_challenge": ch, "code_challenge_method": "S256"}
	for name, edit := range map[string]func(map[string]string){
		"redirect elsewhere":  func(m map[string]string) { m["redirect_uri"] = "https://evil.example.com/callback" },
		"redirect no port":    func(m map[string]string) { m["redirect_uri"] = "http://127.0.0.1/callback" },
		"redirect with query": func(m map[string]string) { m["redirect_uri"] = "http://127.0.0.1:4711/cb?x=1" },
		"plain challenge":     func(m map[string]string) { m["code_challenge_method"] = "plain" },
		"no public key":       func(m map[string]string) { delete(m, "public_key") },
	} {
		m := map[string]string{}
		for k, v := range good {
			m[k] = v
		}
		edit(m)
		if code, out := post(t, base+sso.AuthorizePath, m); code != http.StatusBadRequest || out["reason"] != "bad_request" {
			t.Errorf("%s: %d %v", name, code, out)
		}
	}
	if code, out := post(t, base+sso.AuthorizePath, good); code != http.StatusOK || out["authorization_url"] == nil {
		t.Fatalf("good start: %d %v", code, out)
	}
	if code, out := post(t, base+sso.PollPath, map[string]string{"session": "nope"}); code != http.StatusNotFound {
		t.Fatalf("unknown session: %d %v", code, out)
	}
	if code, _ := post(t, base+sso.DevicePath, map[string]any{"public_key": hex.EncodeToString(pub), "extra": 1}); code != http.StatusBadRequest {
		t.Fatalf("unknown field: %d", code)
	}
	resp, err := http.Get(base + sso.DevicePath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", resp.StatusCode)
	}
}

// TestHTTPCodeFlow: the code + PKCE flow over the API, and its
// refusals: a wrong verifier or state ends the session.
func TestHTTPCodeFlow(t *testing.T) {
	r := newRig(t, nil, nil, nil)
	base := serve(t, r)
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	start := func() (session, verifier, code, state string) {
		v, ch := pkce()
		c, out := post(t, base+sso.AuthorizePath, map[string]string{"public_key": hex.EncodeToString(pub),
			"redirect_uri": "http://127.0.0.1:4711/callback", "code_challenge": ch, "code_challenge_method": "S256"})
		if c != http.StatusOK {
			t.Fatalf("authorize: %d %v", c, out)
		}
		back, err := r.p.SignIn(out["authorization_url"].(string), "bob")
		if err != nil {
			t.Fatal(err)
		}
		return out["session"].(string), v, back.Query().Get("code"), back.Query().Get("state")
	}
	exchange := func(s, st, c, v string) (int, map[string]any) {
		return post(t, base+sso.ExchangePath, map[string]string{"session": s, "state": st, "code": c, "code_verifier": v})
	}

	s, v, c, st := start()
	other, _ := pkce()
	if code, out := exchange(s, st, c, other); code != http.StatusBadRequest || out["reason"] != "bad_request" {
		t.Fatalf("wrong verifier: %d %v", code, out)
	}
	if code, out := exchange(s, st, c, v); code != http.StatusNotFound {
		t.Fatalf("the session must end with a refused exchange: %d %v", code, out)
	}

	s, v, c, _ = start()
	if code, out := exchange(s, "another-state", c, v); code != http.StatusBadRequest {
		t.Fatalf("wrong state: %d %v", code, out)
	}

	s, v, c, st = start()
	code, out := exchange(s, st, c, v)
	if code != http.StatusOK || out["token"] == nil {
		t.Fatalf("exchange: %d %v", code, out)
	}
	claims, err := r.tokens.Verify(out["token"].(string))
	if err != nil || claims.CallerID != "up=bob" || claims.PublicKey != hex.EncodeToString(pub) {
		t.Fatalf("token: %+v %v", claims, err)
	}
	// A code is good once, at the provider too.
	if code, _ := exchange(s, st, c, v); code != http.StatusNotFound {
		t.Fatalf("replayed exchange: %d", code)
	}
}

// TestHTTPBoundsFlowsPerSource: one address may not hold more than
// sso.MaxSessionsPerSource flows in progress.
func TestHTTPBoundsFlowsPerSource(t *testing.T) {
	r := newRig(t, nil, nil, nil)
	base := serve(t, r)
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	_, ch := pkce()
	body := map[string]string{"public_key": hex.EncodeToString(pub), "redirect_uri": "http://127.0.0.1:4711/callback",
		"code_challenge": ch, "code_challenge_method": "S256"}
	for i := range sso.MaxSessionsPerSource {
		if code, out := post(t, base+sso.AuthorizePath, body); code != http.StatusOK {
			t.Fatalf("start %d: %d %v", i, code, out)
		}
	}
	if code, out := post(t, base+sso.AuthorizePath, body); code != http.StatusServiceUnavailable || out["reason"] != "busy" {
		t.Fatalf("start past the limit: %d %v", code, out)
	}
}
