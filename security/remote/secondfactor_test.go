package remote_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	aaalogin "github.com/tuttifleet/tutti/aaa/login"
	"github.com/tuttifleet/tutti/aaa/signer"
	"github.com/tuttifleet/tutti/aaa/signer/signertest"
	"github.com/tuttifleet/tutti/security/remote"
)

func TestLoginSecondFactor(t *testing.T) {
	_, secret, err := aaalogin.GenerateTOTP("test", "carol")
	if err != nil {
		t.Fatal(err)
	}
	env := signertest.Start(t, signertest.Options{Users: []aaalogin.User{
		{Username: "bob", ACLs: []string{"*"}},
		{Username: "carol", ACLs: []string{"*"}, TOTPSecret: secret},
	}})
	opts := func(user string, otp func() (string, error)) remote.LoginOptions {
		return remote.LoginOptions{URLs: []string{env.URL + signer.LoginPath}, User: user, Password: signertest.Password,
			TokenFile: filepath.Join(t.TempDir(), "token"), CA: env.CAFile, OTP: otp}
	}
	asked := 0
	code := func() (string, error) { asked++; return aaalogin.TOTPCode(secret, time.Now()) }

	if _, err := remote.Login(context.Background(), opts("bob", code)); err != nil || asked != 0 {
		t.Fatalf("bob (no second factor): err %v, code asked %d times", err, asked)
	}
	if _, err := remote.Login(context.Background(), opts("carol", code)); err != nil || asked != 1 {
		t.Fatalf("carol: err %v, code asked %d times", err, asked)
	}
	if _, err := remote.Login(context.Background(), opts("carol", nil)); !errors.Is(err, remote.ErrSecondFactor) {
		t.Fatalf("carol without a way to ask: err = %v", err)
	}
	// the same code again (same 30 s step, or the next one)
	if _, err := remote.Login(context.Background(), opts("carol", code)); !errors.Is(err, remote.ErrLoginFailed) {
		t.Fatalf("carol with a used code: err = %v", err)
	}
	wrong := func() (string, error) { return "000000x", nil }
	if _, err := remote.Login(context.Background(), opts("carol", wrong)); !errors.Is(err, remote.ErrLoginFailed) {
		t.Fatalf("carol with a wrong code: err = %v", err)
	}
}

// TestMissingSeedWarns: a token bound to a key, used without its seed,
// is flagged before anything is sent, and the refusal says why.
func TestMissingSeedWarns(t *testing.T) {
	env := signertest.Start(t, signertest.Options{})
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if _, err := remote.Login(context.Background(), remote.LoginOptions{URLs: []string{env.URL + signer.LoginPath},
		User: "bob", Password: signertest.Password, TokenFile: tokenFile, CA: env.CAFile}); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "token.key")); err != nil {
		t.Fatal(err)
	}
	s, err := remote.New(remote.Config{URL: env.URL + signer.SignPath, TokenFile: tokenFile, CA: env.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	if w := s.Warning(); !strings.Contains(w, "proof-of-possession") || !strings.Contains(w, "token.key") {
		t.Fatalf("warning %q", w)
	}
	_, err = s.SignRequest(context.Background(), signertest.Request(t, "rpcutil", "ping", s.CallerID(), time.Now(), 60))
	if !errors.Is(err, remote.ErrRefused) || !strings.Contains(err.Error(), "bad_signature") || !strings.Contains(err.Error(), "tutti login") {
		t.Fatalf("err = %v, want a bad_signature refusal with a hint", err)
	}
}
