package sso_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/aaa/sso"
	"github.com/tuttifleet/tutti/aaa/sso/ssotest"
)

// Each refusal of an ID token, with a token made by a real provider
// (or a real token's claims re-signed or re-encoded).

func idToken(t *testing.T, p *ssotest.Provider, c ssotest.Client, user, nonce string) string {
	t.Helper()
	raw, err := p.IDToken(context.Background(), c, user, nonce)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestAcceptsTheProvidersToken(t *testing.T) {
	r := newRig(t, nil, nil, nil)
	id, err := r.a.VerifyIDToken(context.Background(), idToken(t, r.p, r.p.Clients[0], "bob", "n1"), "n1")
	if err != nil {
		t.Fatal(err)
	}
	if id.Username != "bob" || strings.Join(id.Groups, ",") != "fleet-ops,staff" || id.Issuer != r.p.Issuer {
		t.Fatalf("identity %+v", id)
	}
}

func TestRefusesTokenFromAnotherIssuer(t *testing.T) {
	r := newRig(t, nil, nil, nil)
	// Same client id and secret; its own key, then the trusted
	// provider's key (one key across tenants), so only iss tells.
	other := ssotest.Start(t, ssotest.Options{Users: testUsers})
	_, err := r.a.VerifyIDToken(context.Background(), idToken(t, other, other.Clients[0], "bob", "n1"), "n1")
	refusal(t, err, "bad_token")
	tenant := ssotest.Start(t, ssotest.Options{Users: testUsers, KeysFrom: r.p})
	_, err = r.a.VerifyIDToken(context.Background(), idToken(t, tenant, tenant.Clients[0], "bob", "n1"), "n1")
	if refusal(t, err, "bad_token"); !strings.Contains(err.Error(), "different provider") {
		t.Fatalf("cause: %v", err)
	}
}

func TestRefusesWrongAudience(t *testing.T) {
	p := ssotest.Start(t, ssotest.Options{Users: testUsers, Clients: []ssotest.Client{
		{ID: "tutti-aaa", Secret: "s3cret"}, {ID: "wiki", Secret: "w1ki"}}})
	r := newRig(t, p, nil, nil)
	_, err := r.a.VerifyIDToken(context.Background(), idToken(t, p, p.Clients[1], "bob", "n1"), "n1")
	if refusal(t, err, "bad_token"); !strings.Contains(err.Error(), "audience") {
		t.Fatalf("cause: %v", err)
	}
}

func TestRefusesExpiredToken(t *testing.T) {
	later := func() time.Time { return time.Now().Add(2 * time.Hour) } // the ID token lives 1h
	r := newRig(t, nil, nil, later)
	_, err := r.a.VerifyIDToken(context.Background(), idToken(t, r.p, r.p.Clients[0], "bob", "n1"), "n1")
	if refusal(t, err, "bad_token"); !strings.Contains(err.Error(), "expired") {
		t.Fatalf("cause: %v", err)
	}
}

func TestRefusesAlgNone(t *testing.T) {
	r := newRig(t, nil, nil, nil)
	parts := strings.Split(idToken(t, r.p, r.p.Clients[0], "bob", "n1"), ".")
	for _, header := range []string{`{"alg":"none"}`, `{"alg":"none","typ":"JWT","kid":"` + r.p.CurrentKeyID() + `"}`} {
		unsigned := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + parts[1] + "."
		_, err := r.a.VerifyIDToken(context.Background(), unsigned, "n1")
		refusal(t, err, "bad_token")
	}
	// alg outside the configured allow-list: the provider signs RS256.
	r = newRig(t, r.p, func(c *sso.Config) { c.SigningAlgorithms = []string{"ES256"} }, nil)
	_, err := r.a.VerifyIDToken(context.Background(), strings.Join(parts, "."), "n1")
	if refusal(t, err, "bad_token"); !strings.Contains(err.Error(), "RS256") {
		t.Fatalf("cause: %v", err)
	}
}

func TestRefusesKeyNotInJWKS(t *testing.T) {
	r := newRig(t, nil, nil, nil)
	claims := claimsOf(t, idToken(t, r.p, r.p.Clients[0], "bob", "n1"))
	// a key of its own kid, and a key posing as the provider's current kid
	for _, kid := range []string{"stray", r.p.CurrentKeyID()} {
		forged, err := ssotest.SignWithStrayKey(claims, kid)
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.a.VerifyIDToken(context.Background(), forged, "n1")
		if refusal(t, err, "bad_token"); !strings.Contains(err.Error(), "signature") {
			t.Fatalf("kid %s: cause: %v", kid, err)
		}
	}
}

func TestFollowsKeyRotation(t *testing.T) {
	r := newRig(t, nil, nil, nil)
	if _, err := r.a.VerifyIDToken(context.Background(), idToken(t, r.p, r.p.Clients[0], "bob", "n1"), "n1"); err != nil {
		t.Fatal(err)
	}
	old := r.p.CurrentKeyID()
	if err := r.p.RotateKey(); err != nil {
		t.Fatal(err)
	}
	raw := idToken(t, r.p, r.p.Clients[0], "bob", "n2")
	if r.p.CurrentKeyID() == old {
		t.Fatal("the provider did not rotate")
	}
	if _, err := r.a.VerifyIDToken(context.Background(), raw, "n2"); err != nil {
		t.Fatalf("a token signed with the new key (kid %s): %v", r.p.CurrentKeyID(), err)
	}
}

func TestRefusesNonceMismatch(t *testing.T) {
	r := newRig(t, nil, nil, nil)
	raw := idToken(t, r.p, r.p.Clients[0], "bob", "the-flows-nonce")
	_, err := r.a.VerifyIDToken(context.Background(), raw, "another-flows-nonce")
	refusal(t, err, "nonce")
	// A device flow expects no nonce: a code flow's token does not pass.
	_, err = r.a.VerifyIDToken(context.Background(), raw, "")
	refusal(t, err, "nonce")
}

func TestRefusesMissingGroupClaim(t *testing.T) {
	r := newRig(t, nil, nil, nil)
	_, err := r.a.VerifyIDToken(context.Background(), idToken(t, r.p, r.p.Clients[0], "nogroups", "n1"), "n1")
	if m := refusal(t, err, "no_groups").Message; !strings.Contains(m, `no "groups" claim`) {
		t.Fatalf("message %q", m)
	}
	// The claim name is configurable: with another name bob lacks it too.
	r = newRig(t, r.p, func(c *sso.Config) { c.GroupsClaim = "realm_access.roles" }, nil)
	_, err = r.a.VerifyIDToken(context.Background(), idToken(t, r.p, r.p.Clients[0], "bob", "n1"), "n1")
	refusal(t, err, "no_groups")
}

func TestRefusesMissingSecondFactorWhenRequired(t *testing.T) {
	r := newRig(t, nil, func(c *sso.Config) { c.RequireSecondFactor = true }, nil)
	_, err := r.a.VerifyIDToken(context.Background(), idToken(t, r.p, r.p.Clients[0], "bob", "n1"), "n1")
	if m := refusal(t, err, "second_factor").Message; !strings.Contains(m, "requires a second factor") || !strings.Contains(m, "[pwd]") {
		t.Fatalf("message %q", m)
	}
	// carol signed in with pwd + otp.
	if _, err := r.a.VerifyIDToken(context.Background(), idToken(t, r.p, r.p.Clients[0], "carol", "n1"), "n1"); err != nil {
		t.Fatal(err)
	}
	// Through the device flow, too.
	_, err = r.deviceLogin(t, "bob")
	refusal(t, err, "second_factor")
	if _, err := r.deviceLogin(t, "carol"); err != nil {
		t.Fatal(err)
	}
	// acr can show it instead of amr.
	r = newRig(t, r.p, func(c *sso.Config) {
		c.RequireSecondFactor, c.SecondFactorAMR = true, []string{"hwk"}
	}, nil)
	_, err = r.a.VerifyIDToken(context.Background(), idToken(t, r.p, r.p.Clients[0], "carol", "n1"), "n1")
	refusal(t, err, "second_factor")
}
