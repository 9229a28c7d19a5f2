package remote_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tuttifleet/tutti/aaa/signer"
	"github.com/tuttifleet/tutti/aaa/signer/signertest"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security/remote"
	"github.com/tuttifleet/tutti/security/x509"
)

func login(t *testing.T, env *signertest.Env, user, password string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	return remote.Login(context.Background(), remote.LoginOptions{
		URLs: []string{env.URL + signer.LoginPath}, User: user, Password: password,
		TokenFile: filepath.Join(dir, "choria", "token"), CA: env.CAFile,
	})
}

func TestLoginAndSign(t *testing.T) {
	env := signertest.Start(t, signertest.Options{})
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, ".choria", "token")
	tok, err := remote.Login(context.Background(), remote.LoginOptions{
		URLs: []string{"https://127.0.0.1:1" + signer.LoginPath, env.URL + signer.LoginPath},
		User: "bob", Password: signertest.Password, TokenFile: tokenFile, CA: env.CAFile,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{tokenFile, filepath.Join(dir, ".choria", "token.key")} {
		st, err := os.Stat(f)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v", f, err, st.Mode())
		}
	}
	if b, _ := os.ReadFile(tokenFile); string(b) != tok {
		t.Fatal("token file does not hold the token")
	}

	s, err := remote.New(remote.Config{URL: env.URL + signer.SignPath, TokenFile: tokenFile, CA: env.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	if s.CallerID() != "up=bob" || !s.HasProof() {
		t.Fatalf("callerid %q, proof %v", s.CallerID(), s.HasProof())
	}
	req := signertest.Request(t, "rpcutil", "ping", s.CallerID(), time.Now(), 60)
	secure, err := s.SignRequest(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	sr, err := protocol.DecodeSecureRequest(secure)
	if err != nil {
		t.Fatal(err)
	}
	node, _ := x509.NewFromPEM(nil, nil, env.CA.CertPEM, x509.Config{})
	caller, err := node.VerifyRequest(sr.Message, sr.Signature, sr.PubCert, "up=bob")
	if err != nil || !caller.Privileged {
		t.Fatalf("node verification: %v %+v", err, caller)
	}

	t.Run("refused with reason", func(t *testing.T) {
		_, err := s.SignRequest(context.Background(), signertest.Request(t, "puppet", "disable", s.CallerID(), time.Now(), 60))
		var re *remote.RefusedError
		if !errors.Is(err, remote.ErrRefused) || !errors.As(err, &re) || re.Code != signer.CodeNotAllowed || re.Message != "Request denied" {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("wrong CA", func(t *testing.T) {
		other := signertest.Start(t, signertest.Options{})
		s2, err := remote.New(remote.Config{URL: env.URL + signer.SignPath, TokenFile: tokenFile, CA: other.CAFile})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s2.SignRequest(context.Background(), signertest.Request(t, "rpcutil", "ping", "up=bob", time.Now(), 60))
		if !errors.Is(err, remote.ErrUnreachable) || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("system roots do not trust the test CA", func(t *testing.T) {
		s3, err := remote.New(remote.Config{URL: env.URL + signer.SignPath, TokenFile: tokenFile})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s3.SignRequest(context.Background(), signertest.Request(t, "rpcutil", "ping", "up=bob", time.Now(), 60)); !errors.Is(err, remote.ErrUnreachable) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("insecure only when asked", func(t *testing.T) {
		s4, err := remote.New(remote.Config{URL: env.URL + signer.SignPath, TokenFile: tokenFile, Insecure: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s4.SignRequest(context.Background(), signertest.Request(t, "rpcutil", "ping", "up=bob", time.Now(), 60)); err != nil {
			t.Fatal(err)
		}
	})
}

func TestLoginFailures(t *testing.T) {
	env := signertest.Start(t, signertest.Options{})
	if _, err := login(t, env, "bob", "wrong"); !errors.Is(err, remote.ErrLoginFailed) || !strings.Contains(err.Error(), "Login failed") {
		t.Fatalf("bad password: %v", err)
	}
	_, _ = login(t, env, "bob", "wrong")
	_, _ = login(t, env, "bob", "wrong")
	if _, err := login(t, env, "bob", signertest.Password); !errors.Is(err, remote.ErrLoginFailed) || !strings.Contains(err.Error(), "retry after") {
		t.Fatalf("rate limited: %v", err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	_, err := remote.Login(context.Background(), remote.LoginOptions{URLs: []string{"https://" + addr + signer.LoginPath},
		User: "bob", Password: "x", TokenFile: filepath.Join(t.TempDir(), "token")})
	if !errors.Is(err, remote.ErrUnreachable) {
		t.Fatalf("unreachable: %v", err)
	}
}

func fakeToken(t *testing.T, exp time.Time) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"callerid": "up=bob", "exp": exp.Unix()}).SignedString([]byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestTokenLookup(t *testing.T) {
	dir := t.TempDir()
	good := fakeToken(t, time.Now().Add(time.Hour))
	padded := filepath.Join(dir, "padded")
	os.WriteFile(padded, []byte("\n  "+good+"  \n"), 0o600)
	expired := filepath.Join(dir, "expired")
	os.WriteFile(expired, []byte(fakeToken(t, time.Now().Add(-time.Minute))), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	t.Setenv("TUTTI_TEST_TOKEN", " "+good+"\n")

	cases := []struct {
		name string
		cfg  remote.Config
		want error
	}{
		{"file, trimmed", remote.Config{TokenFile: padded}, nil},
		{"env, trimmed", remote.Config{TokenEnv: "TUTTI_TEST_TOKEN"}, nil},
		{"file wins over env", remote.Config{TokenFile: filepath.Join(dir, "missing"), TokenEnv: "TUTTI_TEST_TOKEN"}, remote.ErrNoToken},
		{"empty file", remote.Config{TokenFile: empty}, remote.ErrNoToken},
		{"unset env", remote.Config{TokenEnv: "TUTTI_TEST_UNSET"}, remote.ErrNoToken},
		{"nothing configured", remote.Config{}, remote.ErrNoToken},
		{"expired", remote.Config{TokenFile: expired}, remote.ErrTokenExpired},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.URL = "https://aaa.example.net/choria/v1/sign"
			s, err := remote.New(tc.cfg)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.want == nil && s.CallerID() != "up=bob" {
				t.Fatalf("callerid %q", s.CallerID())
			}
			if errors.Is(tc.want, remote.ErrTokenExpired) && !strings.Contains(err.Error(), "tutti login") {
				t.Fatalf("message %q does not say to run tutti login", err)
			}
		})
	}
}

func TestDefaultSeedFile(t *testing.T) {
	for in, want := range map[string]string{"/home/u/.choria/token": "/home/u/.choria/token.key", "a/b.jwt": "a/b.key", "~/.choria_token": "~/.choria_token.key"} {
		if got := remote.DefaultSeedFile(in); got != want {
			t.Errorf("%s → %s, want %s", in, got, want)
		}
	}
}
