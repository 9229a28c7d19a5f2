// Package remote is the client side of tutti-aaa (docs/signer-api.md §1, §7): a
// security.RequestSigner that sends each choria:request:1 to the signer
// with the user's token and proof of possession, and Login, which obtains
// that token.
//
// TLS to the signer and login service is verified, against
// plugin.tutti.request_signer.ca or the system roots; only an explicit
// Insecure setting turns that off (W17).
package remote

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security"
)

// Errors for errors.Is. Their texts tell the user what to do.
var (
	ErrNoToken      = errors.New("no token for the request signer: log in first (tutti login)")
	ErrTokenExpired = errors.New("the request signer token has expired: run tutti login")
	ErrRefused      = errors.New("the request signer refused the request")
	ErrUnreachable  = errors.New("the request signer is unreachable")
	ErrLoginFailed  = errors.New("login failed")
)

// DefaultTimeout bounds one HTTP exchange with tutti-aaa.
const DefaultTimeout = 20 * time.Second

// maxResponse caps a signer or login answer.
const maxResponse = 4 << 20

// RefusedError is a signer's refusal. It matches ErrRefused, and also
// ErrTokenExpired when the signer said the token expired.
type RefusedError struct {
	// Message is the signer's error text ("Request denied").
	Message string
	// Code is tutti-aaa's error_code (empty from aaasvc).
	Code string
	// Hint is this client's guess at the cause, when it has one.
	Hint string
}

func (e *RefusedError) Error() string {
	msg := "the request signer refused the request: " + e.Message
	if e.Code != "" {
		msg += " (" + e.Code + ")"
	}
	if e.Hint != "" {
		msg += ": " + e.Hint
	}
	return msg
}

// Is matches ErrRefused, and ErrTokenExpired for a token_expired refusal.
func (e *RefusedError) Is(target error) bool {
	return target == ErrRefused || (target == ErrTokenExpired && e.Code == "token_expired")
}

// Config is the client's request signer settings (docs/config-reference.md §11), as plain
// values: config.RequestSigner maps onto it field by field.
type Config struct {
	// URL is the sign endpoint, e.g. https://aaa.example.net/choria/v1/sign.
	URL string
	// TokenFile holds the JWT; it wins over TokenEnv.
	TokenFile string
	// TokenEnv names an environment variable holding the JWT.
	TokenEnv string
	// SeedFile holds the hex ed25519 seed; default DefaultSeedFile(TokenFile).
	SeedFile string
	// CA verifies the signer's TLS certificate; empty means system roots.
	CA string
	// Insecure skips TLS verification (Choria's behaviour). Never the default.
	Insecure bool
	// Timeout bounds one sign call; default DefaultTimeout.
	Timeout time.Duration
	// HTTPClient replaces the client built from CA/Insecure (tests).
	HTTPClient *http.Client
	// Now is the clock for the expiry check; nil means time.Now.
	Now func() time.Time
	// Approval says what to do with requests held for approval.
	Approval ApprovalOptions
}

// Signer asks tutti-aaa (or aaasvc) to sign requests. Safe for
// concurrent use.
type Signer struct {
	url      string
	client   *http.Client
	token    string
	callerID string
	expires  time.Time
	seed     ed25519.PrivateKey // nil: bearer requests
	now      func() time.Time
	approval ApprovalOptions
	// boundKey: the token has a public_key claim (tutti-aaa and aaasvc
	// since 2021 refuse it without the matching signature).
	boundKey bool
	seedFile string
}

// New reads the token and seed once and builds the HTTP client. Errors:
// ErrNoToken, ErrTokenExpired, or a configuration problem.
func New(cfg Config) (*Signer, error) {
	if cfg.URL == "" {
		return nil, errors.New("remote signer: no url (plugin.choria.security.request_signer.url)")
	}
	s := &Signer{url: cfg.URL, now: cfg.Now, approval: cfg.Approval}
	if s.now == nil {
		s.now = time.Now
	}
	var err error
	if s.token, err = readToken(cfg.TokenFile, cfg.TokenEnv); err != nil {
		return nil, err
	}
	if s.callerID, s.expires, s.boundKey, err = tokenInfo(s.token); err != nil {
		return nil, err
	}
	if err := s.checkExpiry(); err != nil {
		return nil, err
	}
	seedFile := cfg.SeedFile
	if seedFile == "" && cfg.TokenFile != "" {
		seedFile = DefaultSeedFile(cfg.TokenFile)
	}
	s.seedFile = seedFile
	if seedFile != "" {
		if s.seed, err = readSeed(expandHome(seedFile)); err != nil {
			return nil, err
		}
	}
	s.client = cfg.HTTPClient
	if s.client == nil {
		if s.client, err = httpClient(cfg.CA, cfg.Insecure, cfg.Timeout); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// readToken applies the lookup order of docs/signer-api.md §7: token file (missing
// is an error), else the environment variable, else ErrNoToken.
func readToken(file, env string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(expandHome(file))
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("%w: token file %s does not exist", ErrNoToken, file)
		}
		if err != nil {
			return "", fmt.Errorf("remote signer: read token: %w", err)
		}
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, nil
		}
		return "", fmt.Errorf("%w: token file %s is empty", ErrNoToken, file)
	}
	if env != "" {
		if t := strings.TrimSpace(os.Getenv(env)); t != "" {
			return t, nil
		}
		return "", fmt.Errorf("%w: environment variable %s is empty", ErrNoToken, env)
	}
	return "", fmt.Errorf("%w: neither token_file nor token_environment is set", ErrNoToken)
}

// tokenInfo reads callerid and exp without verifying the token: the
// signer verifies it, the client only needs to know who it claims to be.
func tokenInfo(token string) (callerID string, exp time.Time, boundKey bool, err error) {
	var c struct {
		CallerID  string `json:"callerid"`
		PublicKey string `json:"public_key"`
		jwt.RegisteredClaims
	}
	if _, _, err := jwt.NewParser().ParseUnverified(token, &c); err != nil {
		return "", time.Time{}, false, fmt.Errorf("remote signer: the token is not a JWT (log in again): %w", err)
	}
	if c.CallerID == "" {
		return "", time.Time{}, false, errors.New("remote signer: the token has no callerid claim")
	}
	if c.ExpiresAt != nil {
		exp = c.ExpiresAt.Time
	}
	return c.CallerID, exp, c.PublicKey != "", nil
}

// Warning is a problem the signer will meet, for the CLI to show before
// it sends anything: a token bound to a key (public_key claim) used
// without that key's seed is refused by the signer (bad_signature)
// unless it accepts bearer tokens. "" when there is none.
func (s *Signer) Warning() string {
	if s.seed != nil || !s.boundKey {
		return ""
	}
	return s.noSeed()
}

func (s *Signer) noSeed() string {
	where := "no seed file is configured (token from the environment)"
	if s.seedFile != "" {
		where = "its seed file " + s.seedFile + " does not exist"
	}
	return "the token is bound to a proof-of-possession key but " + where +
		": requests go without a signature and tutti-aaa refuses them (bad_signature) unless it allows bearer tokens; run tutti login again, or set plugin.choria.security.request_signer.seed_file"
}

func (s *Signer) checkExpiry() error {
	if !s.expires.IsZero() && !s.now().Before(s.expires) {
		return fmt.Errorf("%w (it expired at %s)", ErrTokenExpired, s.expires.Local().Format(time.RFC1123))
	}
	return nil
}

func readSeed(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // bearer request; tutti-aaa refuses it unless allow_bearer_tokens
	}
	if err != nil {
		return nil, fmt.Errorf("remote signer: read seed: %w", err)
	}
	seed, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("remote signer: seed file %s does not hold %d hex bytes", path, ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// DefaultSeedFile is the token file with its extension replaced by .key
// (~/.choria/token → ~/.choria/token.key, a.jwt → a.key). A dotfile
// keeps its name: ~/.choria_token → ~/.choria_token.key.
func DefaultSeedFile(tokenFile string) string {
	ext := filepath.Ext(tokenFile)
	if ext == filepath.Base(tokenFile) {
		ext = ""
	}
	return strings.TrimSuffix(tokenFile, ext) + ".key"
}

func expandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return p
}

// httpClient verifies TLS against caFile or the system roots.
func httpClient(caFile string, insecure bool, timeout time.Duration) (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure} //nolint:gosec // only by explicit setting
	if caFile != "" {
		pem, err := os.ReadFile(expandHome(caFile))
		if err != nil {
			return nil, fmt.Errorf("remote signer: read CA: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("remote signer: CA file %s holds no certificate", caFile)
		}
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	tr.MaxIdleConnsPerHost = MaxIdleConnsPerHost
	return &http.Client{Timeout: timeout, Transport: tr}, nil
}

// MaxIdleConnsPerHost is how many idle connections to tutti-aaa a client
// keeps for reuse (Go's default is 2). tutti-aaa speaks HTTP/1.1, one
// request per connection at a time: a client signing several requests at
// once (batches, parallel callers) would otherwise close all but two
// connections after each round and pay a new TLS handshake for each of
// the others on the next. Idle connections close after 90 s.
const MaxIdleConnsPerHost = 32

// CallerID is the token's callerid claim: requests must carry it.
func (s *Signer) CallerID() string { return s.callerID }

// Token is the login token. The CLI also presents it to a tutti broker,
// which then lets the connection read this caller's replies.
func (s *Signer) Token() string { return s.token }

// HasProof reports whether requests carry a proof-of-possession signature
// (a seed was found); without it they are bearer requests.
func (s *Signer) HasProof() bool { return s.seed != nil }

type signBody struct {
	Token     string `json:"token"`
	Request   string `json:"request"`
	Signature string `json:"signature,omitempty"`
	// ApprovalID (tutti) redeems an approval.
	ApprovalID string `json:"approval_id,omitempty"`
}

type signAnswer struct {
	SecureRequest string `json:"secure_request"`
	Error         string `json:"error"`
	ErrorCode     string `json:"error_code"`
	ApprovalID    string `json:"approval_id"`
}

// SignRequest sends request to the signer and returns the secure request
// it signed, after checking that it wraps a request with the same id.
// A request tutti-aaa holds for approval is waited for, or returned as
// a *PendingError (Config.Approval).
func (s *Signer) SignRequest(ctx context.Context, request []byte) ([]byte, error) {
	if err := s.checkExpiry(); err != nil {
		return nil, err
	}
	sent, err := protocol.DecodeRequest(request)
	if err != nil {
		return nil, fmt.Errorf("remote signer: %w", err)
	}
	secure, err := s.sign(ctx, request, s.approvalFor(sent))
	var p *pendingAnswer
	if errors.As(err, &p) {
		return s.pending(ctx, request, p.id)
	}
	return secure, err
}

// pendingAnswer is tutti-aaa's answer for a held request.
type pendingAnswer struct{ id string }

func (p *pendingAnswer) Error() string { return "pending approval " + p.id }

// sign makes one sign call, with approvalID when redeeming one.
func (s *Signer) sign(ctx context.Context, request []byte, approvalID string) ([]byte, error) {
	sent, err := protocol.DecodeRequest(request)
	if err != nil {
		return nil, fmt.Errorf("remote signer: %w", err)
	}
	body := signBody{Token: s.token, Request: base64.StdEncoding.EncodeToString(request), ApprovalID: approvalID}
	if s.seed != nil {
		body.Signature = hex.EncodeToString(ed25519.Sign(s.seed, request))
	}
	var ans signAnswer
	if err := postJSON(ctx, s.client, s.url, body, &ans); err != nil {
		return nil, err
	}
	if ans.ErrorCode == CodePendingApproval && ans.ApprovalID != "" {
		return nil, &pendingAnswer{id: ans.ApprovalID}
	}
	if ans.Error != "" {
		re := &RefusedError{Message: ans.Error, Code: ans.ErrorCode}
		if s.seed == nil && (ans.ErrorCode == "bad_signature" || ans.ErrorCode == "") {
			re.Hint = s.noSeed()
		}
		return nil, re
	}
	secure, err := base64.StdEncoding.DecodeString(ans.SecureRequest)
	if err != nil || len(secure) == 0 {
		return nil, fmt.Errorf("remote signer: answer holds no valid secure_request: %w", err)
	}
	if err := checkSigned(secure, sent.ID); err != nil {
		return nil, err
	}
	return secure, nil
}

// checkSigned makes sure the signer returned the request that was sent.
func checkSigned(secure []byte, id string) error {
	sr, err := protocol.DecodeSecureRequest(secure)
	if err != nil {
		return fmt.Errorf("remote signer: answer is not a secure request: %w", err)
	}
	got, err := protocol.DecodeRequest(sr.Message)
	if err != nil {
		return fmt.Errorf("remote signer: signed request is invalid: %w", err)
	}
	if got.ID != id {
		return fmt.Errorf("remote signer: signed request id %s, sent %s", got.ID, id)
	}
	return nil
}

// postJSON posts in as JSON and decodes a 200 answer into out. Transport
// failures wrap ErrUnreachable; other statuses are reported with the
// service's message.
func postJSON(ctx context.Context, c *http.Client, url string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnreachable, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("%w: %s: read answer: %w", ErrUnreachable, url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return &StatusError{URL: url, Status: resp.StatusCode, Body: strings.TrimSpace(string(data)),
			RetryAfter: resp.Header.Get("Retry-After")}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s answered with invalid JSON: %w", url, err)
	}
	return nil
}

// StatusError is a non-200 answer from tutti-aaa.
type StatusError struct {
	URL        string
	Status     int
	Body       string
	RetryAfter string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s answered HTTP %d: %s", e.URL, e.Status, e.Body)
	if e.RetryAfter != "" {
		msg += fmt.Sprintf(" (retry after %ss)", e.RetryAfter)
	}
	return msg
}

var _ security.RequestSigner = (*Signer)(nil)
