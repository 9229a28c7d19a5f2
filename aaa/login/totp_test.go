package login

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// totpFixture is an Authenticator over bob.smith / secret with a second
// factor, and alice / secret without one.
func totpFixture(t *testing.T, clock func() time.Time) (*Authenticator, string) {
	t.Helper()
	_, secret, err := GenerateTOTP("tutti-aaa test", "bob.smith")
	if err != nil {
		t.Fatal(err)
	}
	us, err := NewUsers([]User{
		{Username: "bob.smith", Password: mustHash(t, "secret"), ACLs: []string{"*"}, TOTPSecret: secret},
		{Username: "alice", Password: mustHash(t, "secret"), ACLs: []string{"*"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	k := newKeys(t, false, clock)
	a, err := NewAuthenticator(Config{Users: us, Tokens: k.sign, Now: clock, Limits: RateLimit{UserBurst: 100, AddrBurst: 100}})
	if err != nil {
		t.Fatal(err)
	}
	return a, secret
}

// otpRequest is a login body carrying code, signed over it.
func otpRequest(user, pw, code string, ts time.Time) *Request {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	s := strconv.FormatInt(ts.Unix(), 10)
	return &Request{Username: user, Password: pw, Timestamp: s, OTP: code, PublicKey: hex.EncodeToString(pub),
		Signature: hex.EncodeToString(ed25519.Sign(priv, OTPLoginMessage(s, user, pw, code)))}
}

func mustCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := TOTPCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wantReason(t *testing.T, err error, reason string) {
	t.Helper()
	var f *Failure
	if !errors.Is(err, ErrLoginFailed) || !errors.As(err, &f) || f.Reason != reason {
		t.Fatalf("err = %v, want a Failure with reason %s", err, reason)
	}
}

func TestTOTPLogin(t *testing.T) {
	start := time.Unix(1795357850, 0)
	now := start
	clock := func() time.Time { return now }
	a, secret := totpFixture(t, clock)

	// without a code: the password is right, a code is asked for
	_, err := a.Login(signedRequest("bob.smith", "secret", now), "10.0.0.1")
	var sf *SecondFactorRequired
	if !errors.Is(err, ErrSecondFactor) || !errors.As(err, &sf) || sf.Kind != SecondFactorTOTP {
		t.Fatalf("no code: err = %v, want SecondFactorRequired", err)
	}
	// a wrong password with no code is a plain failure: no hint that a code exists
	wantReason(t, func() error { _, err := a.Login(signedRequest("bob.smith", "wrong", now), "10.0.0.1"); return err }(), "bad_password")

	code := mustCode(t, secret, now)
	if _, err := a.Login(otpRequest("bob.smith", "secret", code, now), "10.0.0.1"); err != nil {
		t.Fatalf("right code: %v", err)
	}
	t.Run("reused", func(t *testing.T) {
		_, err := a.Login(otpRequest("bob.smith", "secret", code, now.Add(time.Second)), "10.0.0.1")
		wantReason(t, err, "reused_otp")
	})
	t.Run("older code after a newer one", func(t *testing.T) {
		_, err := a.Login(otpRequest("bob.smith", "secret", mustCode(t, secret, now.Add(-TOTPPeriod)), now.Add(2*time.Second)), "10.0.0.1")
		wantReason(t, err, "reused_otp")
	})
	t.Run("wrong", func(t *testing.T) {
		wrong := "000000"
		if wrong == mustCode(t, secret, now.Add(TOTPPeriod)) {
			wrong = "000001"
		}
		_, err := a.Login(otpRequest("bob.smith", "secret", wrong, now.Add(3*time.Second)), "10.0.0.1")
		wantReason(t, err, "bad_otp")
	})
	t.Run("expired", func(t *testing.T) {
		later := start.Add(10 * TOTPPeriod)
		now = later
		_, err := a.Login(otpRequest("bob.smith", "secret", mustCode(t, secret, later.Add(-3*TOTPPeriod)), later), "10.0.0.1")
		wantReason(t, err, "expired_otp")
	})
	t.Run("next step accepted once", func(t *testing.T) {
		later := start.Add(20 * TOTPPeriod)
		now = later
		c := mustCode(t, secret, later.Add(TOTPPeriod)) // the phone's clock runs ahead
		if _, err := a.Login(otpRequest("bob.smith", "secret", c, later), "10.0.0.1"); err != nil {
			t.Fatalf("code of the next step: %v", err)
		}
		now = later.Add(TOTPPeriod)
		_, err := a.Login(otpRequest("bob.smith", "secret", c, now), "10.0.0.1")
		wantReason(t, err, "reused_otp")
	})
	t.Run("code not covered by the signature", func(t *testing.T) {
		later := start.Add(30 * TOTPPeriod)
		now = later
		r := signedRequest("bob.smith", "secret", later)
		r.OTP = mustCode(t, secret, later)
		_, err := a.Login(r, "10.0.0.1")
		wantReason(t, err, "bad_signature")
	})
	t.Run("user without a second factor unchanged", func(t *testing.T) {
		if _, err := a.Login(signedRequest("alice", "secret", now.Add(time.Second)), "10.0.0.1"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestTOTPWrongCodesLimited: wrong codes spend the user's attempts as
// wrong passwords do.
func TestTOTPWrongCodesLimited(t *testing.T) {
	now := time.Unix(1795357850, 0)
	a, _ := totpFixture(t, func() time.Time { return now })
	a.byUser = newFailLimiter(3, time.Minute)
	for i := range 3 {
		_, err := a.Login(otpRequest("bob.smith", "secret", "99999"+strconv.Itoa(i), now), "10.0.0.1")
		wantReason(t, err, "bad_otp")
	}
	_, err := a.Login(otpRequest("bob.smith", "secret", "123456", now), "10.0.0.1")
	if !errors.As(err, new(*RateLimitedError)) {
		t.Fatalf("4th wrong code: err = %v, want rate limited", err)
	}
}

func TestTOTPSecretValidation(t *testing.T) {
	h := mustHash(t, "secret")
	for name, tc := range map[string]struct{ secret, wantErr string }{
		"not base32": {"not-base32!", "not base32"},
		"too short":  {"JBSWY3DPEHPK3PXP", "at least 16"},
		"lower case": {strings.ToLower("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"), ""},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewUsers([]User{{Username: "bob", Password: h, TOTPSecret: tc.secret}})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}
