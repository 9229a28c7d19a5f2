package signer_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tuttifleet/tutti/aaa/login"
	"github.com/tuttifleet/tutti/aaa/revoke"
	"github.com/tuttifleet/tutti/aaa/signer"
	"github.com/tuttifleet/tutti/aaa/signer/signertest"
)

func tokenID(t *testing.T, tok string) string {
	t.Helper()
	var c login.Claims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &c); err != nil {
		t.Fatal(err)
	}
	if c.Subject != "bob" {
		t.Fatalf("sub %q, want the user name", c.Subject)
	}
	return c.ID
}

func ping(t *testing.T, env *signertest.Env, tok string, seed []byte) string {
	t.Helper()
	_, code := env.Sign(t, tok, signertest.Request(t, "rpcutil", "ping", "up=bob", time.Now(), 60), seed)
	return code
}

func TestRevokeByIDAndUser(t *testing.T) {
	env := signertest.Start(t, signertest.Options{})
	store := env.Service.Revocations()
	if store == nil {
		t.Fatal("no revocation store (default: next to the audit log)")
	}
	tokA, seedA := env.Login(t, "bob")
	tokB, seedB := env.Login(t, "bob")
	if ping(t, env, tokA, seedA) != "" || ping(t, env, tokB, seedB) != "" {
		t.Fatal("fresh tokens refused")
	}
	// by id: only that token
	if err := store.Revoke(context.Background(), revoke.Entry{JTI: tokenID(t, tokA), RevokedAt: time.Now(), By: "root", Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	if code := ping(t, env, tokA, seedA); code != signer.CodeRevoked {
		t.Fatalf("revoked token: code %q", code)
	}
	if code := ping(t, env, tokB, seedB); code != "" {
		t.Fatalf("other token: code %q", code)
	}
	recs := env.AuditRecords(t)
	if last := recs[len(recs)-2]; !strings.Contains(last.Reason, "revoked at") || !strings.Contains(last.Reason, "by root (test)") {
		t.Fatalf("audit reason %q", last.Reason)
	}
	// by user, from another process's view of the file (tutti-aaa token revoke)
	admin, err := revoke.OpenFile(env.Dir+"/revocations.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.Revoke(context.Background(), revoke.Entry{User: "bob", RevokedAt: time.Now(), By: "root"}); err != nil {
		t.Fatal(err)
	}
	waitRevoked(t, env, tokB, seedB)
	// a token issued after the revocation works (iat has whole seconds)
	time.Sleep(1100 * time.Millisecond)
	tokC, seedC := env.Login(t, "bob")
	if code := ping(t, env, tokC, seedC); code != "" {
		t.Fatalf("token issued after the user's revocation: code %q", code)
	}
}

// TestRevokeAcrossInstances: two tutti-aaa instances on one JetStream;
// a revocation written through one is refused by the other.
func TestRevokeAcrossInstances(t *testing.T) {
	url := startJetStream(t)
	conf := func(c *signer.Config) { c.TokenRevocation.Servers = url }
	a := signertest.Start(t, signertest.Options{Configure: conf})
	b := signertest.Start(t, signertest.Options{CA: a.CA, Configure: conf})
	tok, seed := a.Login(t, "bob")
	// b verifies a's tokens only with a's JWT key: use b's own login
	tokB, seedB := b.Login(t, "bob")
	if err := a.Service.Revocations().Revoke(context.Background(), revoke.Entry{User: "bob", RevokedAt: time.Now(), By: "root"}); err != nil {
		t.Fatal(err)
	}
	waitRevoked(t, a, tok, seed)
	waitRevoked(t, b, tokB, seedB)
}

// waitRevoked waits until env refuses tok as revoked (a file is read
// within a second, a bucket's watch within milliseconds).
func waitRevoked(t *testing.T, env *signertest.Env, tok string, seed []byte) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for ping(t, env, tok, seed) != signer.CodeRevoked {
		if time.Now().After(deadline) {
			t.Fatal("the token is still accepted")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
