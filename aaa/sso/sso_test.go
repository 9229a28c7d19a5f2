package sso_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/aaa/login"
	"github.com/tuttifleet/tutti/aaa/sso"
	"github.com/tuttifleet/tutti/aaa/sso/ssotest"
)

var testUsers = []ssotest.User{
	{Username: "bob", Groups: []string{"fleet-ops", "staff"}},
	{Username: "carol", Groups: []string{"auditors", "fleet-ops"}, AMR: []string{"pwd", "otp"}},
	{Username: "mallory", Groups: []string{"marketing"}},
	{Username: "nogroups"},
}

type rig struct {
	p       *ssotest.Provider
	a       *sso.Authenticator
	key     ed25519.PrivateKey
	tokens  *login.TokenVerifier
	metrics *sso.Metrics
}

func newRig(t *testing.T, p *ssotest.Provider, edit func(*sso.Config), now func() time.Time) *rig {
	t.Helper()
	if p == nil {
		p = ssotest.Start(t, ssotest.Options{Users: testUsers})
	}
	cfg := sso.Config{Issuer: p.Issuer, ClientID: p.Clients[0].ID, ClientSecret: p.Clients[0].Secret, CA: p.CAFile,
		Groups: []sso.Entitlement{
			{Group: "fleet-ops", User: login.User{ACLs: []string{"rpcutil.*"}, Properties: map[string]string{"team": "ops"}}},
			{Group: "auditors", CallerIDPrefix: "sso=", Validity: 10 * time.Minute,
				User: login.User{ACLs: []string{"puppet.status"}, Properties: map[string]string{"team": "audit"}}},
		}}
	if edit != nil {
		edit(&cfg)
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	l := logrus.New()
	l.SetLevel(logrus.WarnLevel)
	m := sso.NewMetrics(nil)
	a, err := sso.New(cfg, sso.Options{Key: key, Now: now, Log: logrus.NewEntry(l), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	v, err := login.NewTokenVerifier(key.Public(), time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{p: p, a: a, key: key, tokens: v, metrics: m}
}

func (r *rig) deviceLogin(t *testing.T, user string) (string, error) {
	t.Helper()
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	ds, err := r.a.StartDevice(context.Background(), pub, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if ds.UserCode == "" || !strings.HasPrefix(ds.VerificationURI, r.p.Issuer) {
		t.Fatalf("device start %+v", ds)
	}
	if err := r.p.ApproveDevice(ds.UserCode, user); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		tok, err := r.a.Poll(ds.Session)
		if err != nil || tok != "" {
			return tok, err
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("device flow did not finish within 20s")
	return "", nil
}

func refusal(t *testing.T, err error, reason string) *sso.Refusal {
	t.Helper()
	var r *sso.Refusal
	if !errors.As(err, &r) || r.Reason != reason {
		t.Fatalf("want a %s refusal, got %v", reason, err)
	}
	return r
}

func TestDeviceFlowIssuesGroupEntitlements(t *testing.T) {
	r := newRig(t, nil, nil, nil)
	tok, err := r.deviceLogin(t, "bob")
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.tokens.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.CallerID != "up=bob" || strings.Join(c.Agents, ",") != "rpcutil.*" || c.UserProperties["team"] != "ops" ||
		c.Issuer != login.Issuer || c.Purpose != login.Purpose || c.OU != login.DefaultOrganization {
		t.Fatalf("claims %+v", c)
	}
	if d := c.ExpiresAt.Sub(c.IssuedAt.Time); d != time.Hour {
		t.Fatalf("lifetime %s, want the default 1h", d)
	}

	// carol is in two groups: the first listed (auditors) gives the
	// prefix and caps the lifetime; acls are the union.
	tok, err = r.deviceLogin(t, "carol")
	if err != nil {
		t.Fatal(err)
	}
	if c, err = r.tokens.Verify(tok); err != nil {
		t.Fatal(err)
	}
	if c.CallerID != "up=carol" || strings.Join(c.Agents, ",") != "rpcutil.*,puppet.status" || c.UserProperties["team"] != "ops" {
		t.Fatalf("carol's claims %+v", c)
	}
	if d := c.ExpiresAt.Sub(c.IssuedAt.Time); d != 10*time.Minute {
		t.Fatalf("carol's lifetime %s, want the auditors' 10m", d)
	}
}

func TestDeviceFlowRefusesUserInNoEntitledGroup(t *testing.T) {
	r := newRig(t, nil, nil, nil)
	_, err := r.deviceLogin(t, "mallory")
	if m := refusal(t, err, "no_entitlement").Message; !strings.Contains(m, "no group entitled") || !strings.Contains(m, "marketing") {
		t.Fatalf("message %q", m)
	}
	// The finished session is gone.
	if _, err := r.a.Poll("no-such-session"); err == nil {
		t.Fatal("an unknown session was answered")
	}
}

// claimsOf decodes a JWT's payload.
func claimsOf(t *testing.T, raw string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}
