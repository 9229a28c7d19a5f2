package remote

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"strings"
	"time"
)

// The SSO API of tutti-aaa (docs/central-aaa.md "Single sign-on"),
// relative to the service's base URL.
const (
	SSODevicePath    = "/tutti/v1/sso/device"
	SSOPollPath      = "/tutti/v1/sso/poll"
	SSOAuthorizePath = "/tutti/v1/sso/authorize"
	SSOExchangePath  = "/tutti/v1/sso/exchange"
)

// loginPathSuffix is stripped from a login URL to find the base URL.
const loginPathSuffix = "/choria/v1/login"

// SSO flows.
const (
	FlowDevice  = "device"
	FlowBrowser = "browser"
)

// DeviceCode is what the user needs to finish a device sign-in.
type DeviceCode struct {
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int    `json:"expires_in"`
}

// SSOOptions are a single sign-on login's settings.
type SSOOptions struct {
	// LoginOptions gives the URLs (the base URL is the login URL without
	// /choria/v1/login), the token and seed files and the TLS settings;
	// User and Password are not used.
	LoginOptions
	// Flow is FlowDevice or FlowBrowser.
	Flow string
	// ShowDevice tells the user where to go and which code to enter.
	ShowDevice func(DeviceCode)
	// OpenBrowser opens the authorization URL in the user's browser
	// (and shows it, for when no browser opens).
	OpenBrowser func(url string)
}

type ssoAnswer struct {
	DeviceCode
	Session          string `json:"session"`
	Interval         int    `json:"interval"`
	AuthorizationURL string `json:"authorization_url"`
	Token            string `json:"token"`
	Status           string `json:"status"`
	Error            string `json:"error"`
	Reason           string `json:"reason"`
}

// SSOLogin signs the user in at the identity provider through tutti-aaa
// (device flow, or code + PKCE with a loopback listener) and, on success
// only, writes the seed and the token as Login does. A refusal matches
// ErrLoginFailed and carries tutti-aaa's reason for the user.
func SSOLogin(ctx context.Context, o SSOOptions) (string, error) {
	if len(o.URLs) == 0 {
		return "", errors.New("sso login: no login URL (plugin.login.aaasvc.login.url)")
	}
	if o.TokenFile == "" {
		return "", errors.New("sso login: no token file (plugin.choria.security.request_signer.token_file)")
	}
	client := o.HTTPClient
	if client == nil {
		var err error
		if client, err = httpClient(o.CA, o.Insecure, 0); err != nil {
			return "", err
		}
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("sso login: make key: %w", err)
	}
	// A flow lives in one tutti-aaa: the first that answers runs it.
	var token string
	var errs []error
	for _, u := range o.URLs {
		base := strings.TrimSuffix(strings.TrimRight(u, "/"), loginPathSuffix)
		s := ssoClient{c: client, base: base}
		switch o.Flow {
		case FlowDevice:
			token, err = s.device(ctx, hex.EncodeToString(pub), o.ShowDevice)
		case FlowBrowser:
			token, err = s.browser(ctx, hex.EncodeToString(pub), o.OpenBrowser)
		default:
			return "", fmt.Errorf("sso login: unknown flow %q (device or browser)", o.Flow)
		}
		if errors.Is(err, ErrUnreachable) {
			errs = append(errs, err)
			continue
		}
		break
	}
	if token == "" && err == nil {
		err = errors.Join(errs...)
	}
	if err != nil {
		return "", err
	}
	return token, writeLogin(o.LoginOptions, priv, token)
}

// writeLogin stores the seed, then the token (both 0600).
func writeLogin(o LoginOptions, priv ed25519.PrivateKey, token string) error {
	seedFile := o.SeedFile
	if seedFile == "" {
		seedFile = DefaultSeedFile(o.TokenFile)
	}
	if err := writePrivate(expandHome(seedFile), []byte(hex.EncodeToString(priv.Seed()))); err != nil {
		return fmt.Errorf("login: write seed: %w", err)
	}
	if err := writePrivate(expandHome(o.TokenFile), []byte(token)); err != nil {
		return fmt.Errorf("login: write token: %w", err)
	}
	return nil
}

type ssoClient struct {
	c    *http.Client
	base string
}

// post sends body to path; a refusal (any non-200 with an error, or an
// error in a 200) becomes an error matching ErrLoginFailed.
func (s ssoClient) post(ctx context.Context, path string, body any) (*ssoAnswer, error) {
	var ans ssoAnswer
	err := postJSON(ctx, s.c, s.base+path, body, &ans)
	var se *StatusError
	switch {
	case errors.As(err, &se) && se.Status == http.StatusNotFound && !strings.Contains(se.Body, `"reason"`):
		return nil, fmt.Errorf("%w: %s does not offer single sign-on (no oidc_authenticator)", ErrLoginFailed, s.base)
	case errors.As(err, &se):
		if json.Unmarshal([]byte(se.Body), &ans) == nil && ans.Error != "" {
			return nil, fmt.Errorf("%w: %s", ErrLoginFailed, ans.Error)
		}
		return nil, fmt.Errorf("sso login: %w", err)
	case err != nil:
		return nil, fmt.Errorf("sso login: %w", err)
	case ans.Error != "":
		return nil, fmt.Errorf("%w: %s", ErrLoginFailed, ans.Error)
	}
	return &ans, nil
}

func (s ssoClient) device(ctx context.Context, pub string, show func(DeviceCode)) (string, error) {
	ans, err := s.post(ctx, SSODevicePath, map[string]string{"public_key": pub})
	if err != nil {
		return "", err
	}
	if show != nil {
		show(ans.DeviceCode)
	}
	interval := time.Duration(max(ans.Interval, 1)) * time.Second
	deadline := time.Now().Add(time.Duration(max(ans.ExpiresIn, 60)) * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(interval):
		}
		p, err := s.post(ctx, SSOPollPath, map[string]string{"session": ans.Session})
		if err != nil {
			return "", err
		}
		if p.Token != "" {
			return p.Token, nil
		}
	}
	return "", fmt.Errorf("%w: the code expired before the sign-in finished", ErrLoginFailed)
}

// callback is what the loopback listener received.
type callback struct{ code, state, err string }

func (s ssoClient) browser(ctx context.Context, pub string, open func(string)) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("sso login: loopback listener: %w", err)
	}
	defer ln.Close()
	redirect := "http://" + ln.Addr().String() + "/callback"
	verifier := randomVerifier()
	sum := sha256.Sum256([]byte(verifier))
	ans, err := s.post(ctx, SSOAuthorizePath, map[string]string{"public_key": pub, "redirect_uri": redirect,
		"code_challenge": base64.RawURLEncoding.EncodeToString(sum[:]), "code_challenge_method": "S256"})
	if err != nil {
		return "", err
	}
	got := make(chan callback, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		q := r.URL.Query()
		cb := callback{code: q.Get("code"), state: q.Get("state"), err: strings.TrimSpace(q.Get("error") + " " + q.Get("error_description"))}
		select {
		case got <- cb:
			if cb.err != "" {
				fmt.Fprintf(w, "Sign-in failed: %s. You may close this window.", html.EscapeString(cb.err))
				return
			}
			fmt.Fprint(w, "Signed in; tutti is finishing the login. You may close this window.")
		default:
			http.Error(w, "this sign-in was already answered", http.StatusConflict)
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	if open != nil {
		open(ans.AuthorizationURL)
	}
	var cb callback
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case cb = <-got:
	case <-time.After(time.Duration(max(ans.ExpiresIn, 60)) * time.Second):
		return "", fmt.Errorf("%w: no answer from the browser in time", ErrLoginFailed)
	}
	if cb.err != "" {
		return "", fmt.Errorf("%w: the identity provider answered: %s", ErrLoginFailed, cb.err)
	}
	fin, err := s.post(ctx, SSOExchangePath, map[string]string{"session": ans.Session, "state": cb.state,
		"code": cb.code, "code_verifier": verifier})
	if err != nil {
		return "", err
	}
	if fin.Token == "" {
		return "", fmt.Errorf("sso login: %s answered without a token", s.base)
	}
	return fin.Token, nil
}

// randomVerifier is a PKCE code verifier: 32 random bytes, base64url
// (43 characters, RFC 7636 §4.1).
func randomVerifier() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// TokenCallerID is the callerid a token claims, read without verifying
// it (for messages; the signer verifies).
func TokenCallerID(token string) (string, error) {
	id, _, _, err := tokenInfo(token)
	return id, err
}
