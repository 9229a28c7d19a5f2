package login

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/crypto/bcrypt"

	"github.com/tuttifleet/tutti/security/replay"
)

// Login freshness (docs/signer-api.md §2): a login's timestamp may be this old…
const MaxLoginAge = 60 * time.Second

// …and this far in the future.
const MaxLoginFuture = 5 * time.Second

// Request is the body of POST /choria/v1/login.
type Request struct {
	Username string `json:"username"`
	Password string `json:"password"`
	// Timestamp is decimal Unix seconds, as a string.
	Timestamp string `json:"timestamp"`
	// PublicKey is hex of the user's fresh ed25519 public key.
	PublicKey string `json:"public_key"`
	// Signature is hex of the ed25519 signature over
	// "<timestamp>:<username>:<password>", followed by ":<otp>" when
	// OTP is set.
	Signature string `json:"signature"`
	// OTP is the one-time code of a user with a second factor (tutti;
	// aaasvc clients never send it).
	OTP string `json:"otp,omitempty"`
}

// LoginMessage is the text a login's signature covers.
func LoginMessage(timestamp, username, password string) []byte {
	return []byte(timestamp + ":" + username + ":" + password)
}

// OTPLoginMessage is the text a login's signature covers when it
// carries a one-time code: LoginMessage, ":", the code.
func OTPLoginMessage(timestamp, username, password, otp string) []byte {
	if otp == "" {
		return LoginMessage(timestamp, username, password)
	}
	return []byte(timestamp + ":" + username + ":" + password + ":" + otp)
}

// ErrLoginFailed is the one error a caller sees for any failed login.
var ErrLoginFailed = errors.New("Login failed") //nolint:staticcheck // aaasvc's exact wording

// ErrIssue means the credentials were good but no token could be signed.
var ErrIssue = errors.New("Could not sign JWT token") //nolint:staticcheck // aaasvc's exact wording

// Failure is a refused login. It matches ErrLoginFailed with errors.Is;
// Reason is for the service log and metrics only, never for the client.
type Failure struct {
	// Reason is a short label: bad_request, stale, bad_signature,
	// replayed, unknown_user, bad_password.
	Reason string
	Err    error
}

func (f *Failure) Error() string {
	if f.Err != nil {
		return fmt.Sprintf("login failed: %s: %v", f.Reason, f.Err)
	}
	return "login failed: " + f.Reason
}

func (f *Failure) Unwrap() error { return f.Err }

// Is matches ErrLoginFailed.
func (f *Failure) Is(target error) bool { return target == ErrLoginFailed }

// RateLimitedError is returned instead of checking a password when the
// user or the source address failed too often. It matches ErrLoginFailed.
type RateLimitedError struct {
	// Key says what was limited: "user" or "address".
	Key        string
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("login failed: too many failures for this %s, retry in %s", e.Key, e.RetryAfter.Round(time.Second))
}

// Is matches ErrLoginFailed.
func (e *RateLimitedError) Is(target error) bool { return target == ErrLoginFailed }

// Config is an Authenticator's section.
type Config struct {
	Users  *Users
	Tokens *TokenSigner
	Limits RateLimit
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	Log *logrus.Entry
}

// Authenticator checks logins and issues tokens. Safe for concurrent
// use; logins do not serialise on any lock held across bcrypt.
type Authenticator struct {
	users  *Users
	tokens *TokenSigner
	now    func() time.Time
	log    *logrus.Entry

	byUser, byAddr *failLimiter
	seen           *replay.Cache // login signatures, until they are stale
	otp            *totpGuard
	// compare is bcrypt.CompareHashAndPassword (tests count its calls).
	compare   func(hash, password []byte) error
	dummyHash []byte
}

// NewAuthenticator builds an Authenticator from cfg.
func NewAuthenticator(cfg Config) (*Authenticator, error) {
	if cfg.Users == nil || cfg.Tokens == nil {
		return nil, errors.New("login: users and a token signer are required")
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("tutti-aaa dummy password"), bcrypt.DefaultCost)
	if err != nil {
		return nil, fmt.Errorf("login: make dummy hash: %w", err)
	}
	lim := cfg.Limits.withDefaults()
	a := &Authenticator{
		users: cfg.Users, tokens: cfg.Tokens, now: cfg.Now, log: cfg.Log,
		byUser:    newFailLimiter(lim.UserBurst, lim.UserEvery),
		byAddr:    newFailLimiter(lim.AddrBurst, lim.AddrEvery),
		seen:      replay.New(0),
		otp:       newTOTPGuard(),
		compare:   bcrypt.CompareHashAndPassword,
		dummyHash: dummy,
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = logrus.NewEntry(logrus.New())
	}
	return a, nil
}

// Login checks req coming from source (the client's IP address) and
// returns a signed token. Every error matches ErrLoginFailed except a
// token signing failure, which matches ErrIssue.
func (a *Authenticator) Login(req *Request, source string) (string, error) {
	finish, err := a.reserve(req.Username, source)
	if err != nil {
		return "", err
	}
	now := a.now()
	u, pub, err := a.check(req, now)
	var sf *SecondFactorRequired
	// A failure keeps the reserved attempts spent; a right password
	// (with or without the code still to come) gives them back.
	finish(err == nil || errors.As(err, &sf))
	if err != nil {
		return "", err
	}
	tok, err := a.tokens.Issue(u, pub)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrIssue, err)
	}
	return tok, nil
}

// reserve takes one attempt from the source address's and the user's
// budgets before anything is checked (docs/central-aaa.md, "Login
// attempts"): concurrent guesses cannot all reach bcrypt. finish(ok)
// ends the attempt; ok gives both back.
func (a *Authenticator) reserve(user, source string) (finish func(ok bool), err error) {
	if wait := a.byAddr.reserve(source, a.now); wait > 0 {
		return nil, &RateLimitedError{Key: "address", RetryAfter: wait}
	}
	if wait := a.byUser.reserve(user, a.now); wait > 0 {
		a.byAddr.done(source, a.now(), true) // not attempted
		return nil, &RateLimitedError{Key: "user", RetryAfter: wait}
	}
	return func(ok bool) {
		now := a.now()
		a.byUser.done(user, now, ok)
		a.byAddr.done(source, now, ok)
	}, nil
}

// check runs the checks of docs/signer-api.md §2 in order.
func (a *Authenticator) check(req *Request, now time.Time) (*User, ed25519.PublicKey, error) {
	if req.PublicKey == "" || req.Signature == "" {
		return a.fail("bad_request", errors.New("no public_key or signature (2019 login bodies are refused)"))
	}
	ts, err := strconv.ParseInt(req.Timestamp, 10, 64)
	if err != nil {
		return a.fail("bad_request", fmt.Errorf("timestamp: %w", err))
	}
	t := time.Unix(ts, 0)
	if age := now.Sub(t); age > MaxLoginAge || age < -MaxLoginFuture {
		return a.fail("stale", fmt.Errorf("timestamp %d is %s away from now", ts, age.Round(time.Second)))
	}
	pub, err := hex.DecodeString(req.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return a.fail("bad_request", fmt.Errorf("public_key is not %d hex bytes", ed25519.PublicKeySize))
	}
	sig, err := hex.DecodeString(req.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return a.fail("bad_request", fmt.Errorf("signature is not %d hex bytes", ed25519.SignatureSize))
	}
	if !ed25519.Verify(pub, OTPLoginMessage(req.Timestamp, req.Username, req.Password, req.OTP), sig) {
		return a.fail("bad_signature", errors.New("signature does not verify with public_key"))
	}
	// Keyed on the decoded signature, not its hex: "AB" and "ab" decode
	// alike, so the text would let a body be replayed in other case.
	if a.seen.Seen(sha256.Sum256(sig), t.Add(MaxLoginAge+time.Second), now) {
		return a.fail("replayed", errors.New("this login body was already used"))
	}
	u, ok := a.users.Lookup(req.Username)
	if !ok {
		// Same cost as a real check, so timing does not reveal the user.
		_ = a.compare(a.dummyHash, []byte(req.Password))
		return a.fail("unknown_user", fmt.Errorf("no user %q", req.Username))
	}
	if err := a.compare([]byte(u.Password), []byte(req.Password)); err != nil {
		return a.fail("bad_password", fmt.Errorf("user %q: %w", req.Username, err))
	}
	if u.TOTPSecret != "" {
		if req.OTP == "" {
			return nil, nil, &SecondFactorRequired{Kind: SecondFactorTOTP}
		}
		if err := a.otp.check(u.Username, u.TOTPSecret, req.OTP, now); err != nil {
			return nil, nil, err
		}
	}
	return u, ed25519.PublicKey(pub), nil
}

func (a *Authenticator) fail(reason string, err error) (*User, ed25519.PublicKey, error) {
	return nil, nil, &Failure{Reason: reason, Err: err}
}
