package sso

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// ErrBusy means too many flows are in progress; try again later.
var ErrBusy = errors.New("too many sign-ins in progress")

// DeviceStart is the answer to a device flow start.
type DeviceStart struct {
	Session                 string `json:"session"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete,omitempty"`
	ExpiresIn               int    `json:"expires_in"`
	Interval                int    `json:"interval"`
}

// StartDevice asks the provider for a device code (RFC 8628 §3.1) and
// polls its token endpoint in the background until the user has signed
// in, refused, or the code expired. The token will be bound to pub.
func (a *Authenticator) StartDevice(ctx context.Context, pub ed25519.PublicKey, source string) (*DeviceStart, error) {
	p, _, err := a.discover(ctx)
	if err != nil {
		return nil, err
	}
	if p.Endpoint().DeviceAuthURL == "" {
		return nil, refuse("provider", "the identity provider does not offer the device flow; use the browser flow",
			errors.New("no device_authorization_endpoint in the discovery document"))
	}
	conf := a.oauth2Config(p, "")
	var auth []oauth2.AuthCodeOption
	if a.secret != "" {
		// A confidential client authenticates here too (RFC 8628 §3.1);
		// x/oauth2 sends only client_id.
		auth = append(auth, oauth2.SetAuthURLParam("client_secret", a.secret))
	}
	da, err := conf.DeviceAuth(a.ctx(ctx), auth...)
	if err != nil {
		return nil, refuse("provider", "the identity provider refused to start a device sign-in", err)
	}
	now := a.now()
	expires := da.Expiry
	if expires.IsZero() || expires.After(now.Add(MaxDeviceTimeout)) {
		expires = now.Add(MaxDeviceTimeout)
	}
	s := &session{id: randomID(), pub: pub, source: source, expires: expires, done: make(chan struct{})}
	s.lastPoll.Store(now.UnixNano())
	var pollCtx context.Context
	pollCtx, s.cancel = context.WithDeadline(a.ctx(a.bg), expires)
	if !a.sessions.add(s, now) {
		s.cancel()
		return nil, ErrBusy
	}
	go a.pollDevice(pollCtx, s, conf, da)
	go a.watchDevice(s)
	interval := max(int(da.Interval), 1)
	return &DeviceStart{Session: s.id, UserCode: da.UserCode, VerificationURI: da.VerificationURI,
		VerificationURIComplete: da.VerificationURIComplete, ExpiresIn: int(time.Until(expires).Seconds()), Interval: interval}, nil
}

// pollDevice runs the token polling (RFC 8628 §3.4, with slow_down) for s.
func (a *Authenticator) pollDevice(ctx context.Context, s *session, conf *oauth2.Config, da *oauth2.DeviceAuthResponse) {
	defer close(s.done)
	defer s.cancel()
	tok, err := conf.DeviceAccessToken(ctx, da)
	if err != nil {
		s.err = deviceRefusal(err)
		a.logOutcome(FlowDevice, s.source, nil, s.err)
		return
	}
	raw, err := idToken(tok)
	if err != nil {
		s.err = err
		a.logOutcome(FlowDevice, s.source, nil, s.err)
		return
	}
	// RFC 8628 has no nonce: a device flow's ID token must carry none.
	var id *Identity
	s.token, id, s.err = a.issue(ctx, raw, "", s.pub)
	a.logOutcome(FlowDevice, s.source, id, s.err)
}

// watchDevice ends s when the CLI has stopped polling for
// abandonAfter: nobody would collect the token, and the provider
// should not be polled for nothing.
func (a *Authenticator) watchDevice(s *session) {
	t := time.NewTicker(abandonAfter / 4)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			if a.now().Sub(time.Unix(0, s.lastPoll.Load())) > abandonAfter {
				s.cancel()
				a.sessions.remove(s.id)
				a.log.WithField("source", s.source).Info("SSO device sign-in abandoned by the client")
				return
			}
		}
	}
}

func deviceRefusal(err error) error {
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re) && re.ErrorCode == "access_denied":
		return refuse("denied", "the sign-in was denied at the identity provider", err)
	case errors.As(err, &re) && re.ErrorCode == "expired_token", errors.Is(err, context.DeadlineExceeded):
		return refuse("expired_session", "the code expired before the sign-in finished; run tutti login --sso again", err)
	}
	return refuse("provider", "the identity provider failed the device sign-in", err)
}

// Poll returns the token of a finished device flow, ("", nil) while the
// user has not signed in yet, or the refusal. A finished session is
// gone after Poll.
func (a *Authenticator) Poll(id string) (string, error) {
	s, ok := a.sessions.get(id, a.now())
	if !ok || s.done == nil {
		return "", refuse("unknown_session", "no such sign-in in progress (expired, finished, or started at another tutti-aaa)", nil)
	}
	s.lastPoll.Store(a.now().UnixNano())
	select {
	case <-s.done:
	default:
		return "", nil
	}
	a.sessions.take(id, a.now())
	return s.token, s.err
}

// CodeStart is the answer to a code + PKCE flow start.
type CodeStart struct {
	Session          string `json:"session"`
	AuthorizationURL string `json:"authorization_url"`
	ExpiresIn        int    `json:"expires_in"`
}

// StartCode begins an authorization code flow whose redirect is the
// CLI's loopback listener (RFC 8252 §7.3). The CLI holds the PKCE
// verifier; challenge is its S256 hash.
func (a *Authenticator) StartCode(ctx context.Context, pub ed25519.PublicKey, source, redirect, challenge, method string) (*CodeStart, error) {
	if err := checkLoopback(redirect); err != nil {
		return nil, refuse("bad_request", err.Error(), nil)
	}
	if method != "S256" || len(challenge) != 43 {
		return nil, refuse("bad_request", "code_challenge must be an S256 PKCE challenge (43 base64url characters)", nil)
	}
	p, _, err := a.discover(ctx)
	if err != nil {
		return nil, err
	}
	now := a.now()
	s := &session{id: randomID(), pub: pub, source: source, expires: now.Add(DefaultCodeTimeout),
		state: randomID(), nonce: randomID(), redirect: redirect, challenge: challenge}
	if !a.sessions.add(s, now) {
		return nil, ErrBusy
	}
	u := a.oauth2Config(p, redirect).AuthCodeURL(s.state, oidc.Nonce(s.nonce),
		oauth2.SetAuthURLParam("code_challenge", challenge), oauth2.SetAuthURLParam("code_challenge_method", "S256"))
	return &CodeStart{Session: s.id, AuthorizationURL: u, ExpiresIn: int(DefaultCodeTimeout.Seconds())}, nil
}

// checkLoopback accepts http://127.0.0.1:port/…, http://[::1]:port/… and
// http://localhost:port/… only: a code must come back to the machine
// that started the flow, never to another site.
func checkLoopback(redirect string) error {
	u, err := url.Parse(redirect)
	if err != nil || u.Scheme != "http" || u.Port() == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("redirect_uri %q must be http://127.0.0.1:<port>/<path> (a loopback listener of the CLI)", redirect)
	}
	switch u.Hostname() {
	case "127.0.0.1", "::1", "localhost":
		return nil
	}
	return fmt.Errorf("redirect_uri %q is not a loopback address", redirect)
}

// Exchange finishes a code flow: state must be the flow's, verifier must
// hash to the challenge given at the start; the provider then checks
// the code with the same verifier. The session ends here, whatever the
// outcome, which is logged and counted.
func (a *Authenticator) Exchange(ctx context.Context, id, state, code, verifier string) (string, *Identity, error) {
	src, token, ident, err := a.exchange(ctx, id, state, code, verifier)
	a.logOutcome(FlowBrowser, src, ident, err)
	return token, ident, err
}

// exchange is Exchange; src is the address that started the flow ("" for
// an unknown session).
func (a *Authenticator) exchange(ctx context.Context, id, state, code, verifier string) (src, token string, ident *Identity, err error) {
	s, ok := a.sessions.take(id, a.now())
	if !ok || s.done != nil {
		return "", "", nil, refuse("unknown_session", "no such sign-in in progress (expired, finished, or started at another tutti-aaa)", nil)
	}
	if subtle.ConstantTimeCompare([]byte(state), []byte(s.state)) != 1 {
		return s.source, "", nil, refuse("bad_request", "the browser came back with another sign-in's state", nil)
	}
	sum := sha256.Sum256([]byte(verifier))
	if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(s.challenge)) != 1 {
		return s.source, "", nil, refuse("bad_request", "code_verifier does not match the code_challenge", nil)
	}
	p, _, err := a.discover(ctx)
	if err != nil {
		return s.source, "", nil, err
	}
	tok, err := a.oauth2Config(p, s.redirect).Exchange(a.ctx(ctx), code, oauth2.VerifierOption(verifier))
	if err != nil {
		return s.source, "", nil, refuse("provider", "the identity provider refused the authorization code", err)
	}
	raw, err := idToken(tok)
	if err != nil {
		return s.source, "", nil, err
	}
	token, ident, err = a.issue(ctx, raw, s.nonce, s.pub)
	return s.source, token, ident, err
}
