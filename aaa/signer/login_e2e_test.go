package signer_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/aaa/login"
	"github.com/tuttifleet/tutti/aaa/signer"
	"github.com/tuttifleet/tutti/aaa/signer/signertest"
)

// otpBody is a login body with a one-time code, signed over it.
func otpBody(user, password, code string, now time.Time) *login.Request {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	ts := strconv.FormatInt(now.Unix(), 10)
	return &login.Request{Username: user, Password: password, Timestamp: ts, OTP: code,
		PublicKey: hex.EncodeToString(pub),
		Signature: hex.EncodeToString(ed25519.Sign(priv, login.OTPLoginMessage(ts, user, password, code)))}
}

func TestLoginSecondFactorHTTP(t *testing.T) {
	_, secret, err := login.GenerateTOTP("test", "carol")
	if err != nil {
		t.Fatal(err)
	}
	env := signertest.Start(t, signertest.Options{Users: []login.User{
		{Username: "bob", ACLs: []string{"*"}},
		{Username: "carol", ACLs: []string{"*"}, TOTPSecret: secret},
	}})
	// bob has no second factor: the aaasvc body and answer, unchanged
	body, _ := signertest.LoginBody("bob", signertest.Password, time.Now())
	if code, out := env.Post(t, signer.LoginPath, body); code != 200 || out["token"] == "" || len(out) != 1 {
		t.Fatalf("bob: %d %v", code, out)
	}
	body, _ = signertest.LoginBody("carol", signertest.Password, time.Now())
	code, out := env.Post(t, signer.LoginPath, body)
	if code != 200 || out["second_factor"] != "totp" || out["error"] != "One-time code required" || out["token"] != "" {
		t.Fatalf("carol without a code: %d %v", code, out)
	}
	otp, _ := login.TOTPCode(secret, time.Now())
	if code, out := env.Post(t, signer.LoginPath, otpBody("carol", signertest.Password, otp, time.Now())); code != 200 || out["token"] == "" {
		t.Fatalf("carol with a code: %d %v", code, out)
	}
	if code, out := env.Post(t, signer.LoginPath, otpBody("carol", signertest.Password, otp, time.Now().Add(time.Second))); code != 200 || out["error"] != "Login failed" {
		t.Fatalf("carol with the same code again: %d %v", code, out)
	}
}

// TestConcurrentLoginsTLS: 48 clients log in at once, three times each,
// every login on a new TLS connection (a full handshake), as the load
// that once showed "tls: bad record MAC". Every login must succeed; run
// with -race this also checks the service's handlers share no state
// unguarded.
func TestConcurrentLoginsTLS(t *testing.T) {
	const clients, rounds = 48, 3
	users := make([]login.User, clients)
	for i := range users {
		users[i] = login.User{Username: fmt.Sprintf("user%02d", i), ACLs: []string{"*"}}
	}
	env := signertest.Start(t, signertest.Options{Users: users})
	tc := env.Client.Transport.(*http.Transport).TLSClientConfig
	var wg sync.WaitGroup
	errs := make(chan error, clients*rounds)
	for i := range clients {
		wg.Go(func() {
			for range rounds {
				c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
					TLSClientConfig: tc.Clone(), DisableKeepAlives: true}}
				body, _ := signertest.LoginBody(users[i].Username, signertest.Password, time.Now())
				raw, _ := json.Marshal(body)
				resp, err := c.Post(env.URL+signer.LoginPath, "application/json", bytes.NewReader(raw))
				if err != nil {
					errs <- err
					continue
				}
				var out map[string]string
				err = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				if err != nil || out["token"] == "" {
					errs <- fmt.Errorf("%s: %d %v %w", users[i].Username, resp.StatusCode, out, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestConcurrentGuessesHTTP: 64 concurrent wrong guesses for one user
// over HTTPS: at most the user's burst (3 in signertest) reach the
// password check; the rest are answered 429 with Retry-After.
func TestConcurrentGuessesHTTP(t *testing.T) {
	env := signertest.Start(t, signertest.Options{Configure: func(c *signer.Config) { c.MonitorPort = -1 }})
	var wg sync.WaitGroup
	var mu sync.Mutex
	status := map[int]int{}
	for i := range 64 {
		wg.Go(func() {
			body, _ := signertest.LoginBody("bob", "guess"+strconv.Itoa(i), time.Now())
			raw, _ := json.Marshal(body)
			resp, err := env.Client.Post(env.URL+signer.LoginPath, "application/json", bytes.NewReader(raw))
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode == http.StatusTooManyRequests {
				if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 {
					t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
				}
			}
			mu.Lock()
			status[resp.StatusCode]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if status[200] != 3 || status[429] != 61 {
		t.Fatalf("statuses %v, want 3 × 200 (Login failed) and 61 × 429", status)
	}
	resp, err := http.Get("http://" + env.Service.MonitorAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if want := `tutti_aaa_login_total{reason="bad_password",result="failed",site="test"} 3`; !strings.Contains(string(b), want) {
		t.Fatalf("metrics lack %s", want)
	}
}

func TestSwagger(t *testing.T) {
	env := signertest.Start(t, signertest.Options{})
	resp, err := env.Client.Get(env.URL + "/swagger.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Swagger  string
		BasePath string
		Paths    map[string]any
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, err)
	}
	if doc.Swagger != "2.0" || doc.BasePath != "/choria/v1" || doc.Paths["/login"] == nil || doc.Paths["/sign"] == nil {
		t.Fatalf("document %+v", doc)
	}
	if resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
}

// TestFutureRequestSaysClockSkew: a request dated ahead of the signer's
// clock by more than its ttl is refused as from the future, not as old.
func TestFutureRequestSaysClockSkew(t *testing.T) {
	env := signertest.Start(t, signertest.Options{})
	tok, seed := env.Login(t, "bob")
	if _, code := env.Sign(t, tok, signertest.Request(t, "rpcutil", "ping", "up=bob", time.Now().Add(2*time.Minute), 60), seed); code != signer.CodeStale {
		t.Fatalf("code %q", code)
	}
	if _, code := env.Sign(t, tok, signertest.Request(t, "rpcutil", "ping", "up=bob", time.Now().Add(-2*time.Minute), 60), seed); code != signer.CodeStale {
		t.Fatalf("code %q", code)
	}
	recs := env.AuditRecords(t)
	if len(recs) != 2 || !strings.Contains(recs[0].Reason, "from the future (clock skew?)") || !strings.Contains(recs[1].Reason, "too old") {
		t.Fatalf("audit reasons %+v", recs)
	}
}
