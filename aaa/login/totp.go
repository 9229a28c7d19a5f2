package login

import (
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTP parameters (RFC 6238 as authenticator apps implement it): SHA-1,
// six digits, 30 second steps. A code is accepted for its own step and
// the steps either side (clock drift), once.
const (
	TOTPPeriod = 30 * time.Second
	TOTPDigits = 6
	// totpSkew is how many steps either side of now are accepted.
	totpSkew = 1
	// totpLookBack is how many steps back an expired code is recognised
	// (for the log only; it is refused like a wrong one).
	totpLookBack = 10
	// minTOTPSecret is the smallest secret accepted, in bytes (RFC 4226
	// §4 asks for 128 bits; authenticator apps use 160).
	minTOTPSecret = 16
)

// SecondFactorTOTP is the second_factor value of a login answer asking
// for a one-time code.
const SecondFactorTOTP = "totp"

// ErrSecondFactor is the error of a login whose password was right but
// which carried no one-time code for a user who has one. The client
// asks for the code and logs in again with it (docs/signer-api.md §2).
var ErrSecondFactor = errors.New("One-time code required") //nolint:staticcheck // shown to users as aaasvc's messages are

// SecondFactorRequired is returned by Login for ErrSecondFactor.
type SecondFactorRequired struct{ Kind string }

func (e *SecondFactorRequired) Error() string {
	return "login needs a second factor: " + e.Kind
}

// Is matches ErrSecondFactor.
func (e *SecondFactorRequired) Is(target error) bool { return target == ErrSecondFactor }

var totpOpts = totp.ValidateOpts{Period: uint(TOTPPeriod / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// checkTOTPSecret validates a users file totp_secret: base32 (RFC 4648,
// padding optional, case ignored) of at least 128 bits.
func checkTOTPSecret(s string) error {
	if s == "" {
		return nil
	}
	b, err := b32.DecodeString(strings.TrimRight(strings.ToUpper(strings.TrimSpace(s)), "="))
	if err != nil {
		return fmt.Errorf("totp_secret is not base32: %w", err)
	}
	if len(b) < minTOTPSecret {
		return fmt.Errorf("totp_secret is %d bytes, at least %d are needed (enrol with tutti-aaa user totp)", len(b), minTOTPSecret)
	}
	return nil
}

// TOTPCode is the code of secret at t (enrolment checks and tests).
func TOTPCode(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, t, totpOpts)
}

// GenerateTOTP makes a new secret for user and returns its otpauth URI
// and base32 secret. issuer names the service in authenticator apps.
func GenerateTOTP(issuer, user string) (uri, secret string, err error) {
	k, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: user, Period: uint(TOTPPeriod / time.Second),
		SecretSize: 20, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", "", fmt.Errorf("totp: %w", err)
	}
	return k.URL(), k.Secret(), nil
}

// totpGuard checks codes and remembers, per user, the last time step
// used, so a code (or an earlier one) is refused once it has been used.
type totpGuard struct {
	mu   sync.Mutex
	last map[string]int64 // user → last accepted step
}

func newTOTPGuard() *totpGuard { return &totpGuard{last: map[string]int64{}} }

// check verifies code for user at now. It returns nil or a *Failure
// whose reason is bad_otp, expired_otp or reused_otp.
func (g *totpGuard) check(user, secret, code string, now time.Time) error {
	step := now.Unix() / int64(TOTPPeriod/time.Second)
	code = strings.TrimSpace(code)
	matched, found := int64(0), false
	for s := step - totpLookBack; s <= step+totpSkew; s++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(s*int64(TOTPPeriod/time.Second), 0), totpOpts)
		if err != nil {
			return &Failure{Reason: "bad_otp", Err: fmt.Errorf("user %q: totp_secret: %w", user, err)}
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			matched, found = s, true // the latest step wins
		}
	}
	switch {
	case !found:
		return &Failure{Reason: "bad_otp", Err: fmt.Errorf("user %q: wrong one-time code", user)}
	case matched < step-totpSkew:
		return &Failure{Reason: "expired_otp", Err: fmt.Errorf("user %q: one-time code is %s old (clock skew?)",
			user, time.Duration(step-matched)*TOTPPeriod)}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if last, ok := g.last[user]; ok && matched <= last {
		return &Failure{Reason: "reused_otp", Err: fmt.Errorf("user %q: one-time code already used (or an older one)", user)}
	}
	g.last[user] = matched
	return nil
}
