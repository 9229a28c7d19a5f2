package cli

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/aaa/login"
	"github.com/tuttifleet/tutti/aaa/signer"
	"github.com/tuttifleet/tutti/aaa/sso"
	"github.com/tuttifleet/tutti/aaa/sso/ssotest"
	"github.com/tuttifleet/tutti/client"
	"github.com/tuttifleet/tutti/connector/protocol"
)

// startSSOFleet is a fleet with tutti-aaa whose oidc_authenticator
// trusts a real OpenID provider: members of fleet-ops get rpcutil.*,
// members of marketing nothing (no group of theirs is entitled).
func startSSOFleet(t *testing.T, edit func(*sso.Config)) (*aaaFleet, *ssotest.Provider) {
	t.Helper()
	p := ssotest.Start(t, ssotest.Options{Users: []ssotest.User{
		{Username: "bob", Groups: []string{"fleet-ops"}},
		{Username: "mallory", Groups: []string{"marketing"}},
	}})
	a := startAAAFleetOn(t, startFleet(t, 2), func(c *signer.Config) {
		c.OIDC = sso.Config{Issuer: p.Issuer, ClientID: p.Clients[0].ID, ClientSecret: p.Clients[0].Secret, CA: p.CAFile,
			Groups: []sso.Entitlement{{Group: "fleet-ops", User: login.User{ACLs: []string{"rpcutil.*"}}}}}
		if edit != nil {
			edit(&c.OIDC)
		}
	})
	return a, p
}

// ssoLogin runs tutti login --sso in the background and hands its
// stderr to act (the user at the browser) once want matches it.
func ssoLogin(t *testing.T, a *aaaFleet, want *regexp.Regexp, act func(match []string) error, flags ...string) (int, string, string) {
	t.Helper()
	var out, stderr lockedBuffer
	done := make(chan int, 1)
	args := append([]string{"login", "--sso", "--config", a.conf}, flags...)
	go func() { done <- Main(args, strings.NewReader(""), &out, &stderr) }()
	deadline := time.After(30 * time.Second)
	for acted := false; ; {
		select {
		case code := <-done:
			return code, out.String(), stderr.String()
		case <-deadline:
			t.Fatalf("tutti login --sso did not finish within 30s: %s", stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if m := want.FindStringSubmatch(stderr.String()); m != nil && !acted {
			acted = true
			if err := act(m); err != nil {
				t.Fatalf("at the identity provider: %v", err)
			}
		}
	}
}

var deviceCodeRe = regexp.MustCompile(`enter the code (\S+)`)

// pingAsBob: tutti-aaa signed as up=bob, the nodes ran it and audited
// it as bob under the privileged signer (node1 has allowed bob's ping
// want times in all).
func pingAsBob(t *testing.T, a *aaaFleet, want int) {
	t.Helper()
	code, out, stderr := runCLI(t, "rpc", "rpcutil", "ping", "--config", a.conf, "--json")
	if code != ExitOK {
		t.Fatalf("ping as bob: exit %d: %s %s", code, out, stderr)
	}
	var res struct {
		Replies []rpcResult `json:"replies"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Replies) != 2 {
		t.Fatalf("want 2 replies: %s", out)
	}
	for _, r := range res.Replies {
		if r.StatusCode != protocol.OK || r.Verification != client.Verified {
			t.Fatalf("reply %+v", r)
		}
	}
	var allowed int
	for _, r := range a.nodeAudit(t, "up=bob") {
		if r["action"] == "ping" && r["decision"] == "allow" && r["signer"] == "aaa.privileged.mcollective" {
			allowed++
		}
	}
	if allowed != want {
		t.Fatalf("node audit for up=bob: %v", a.nodeAudit(t, "up=bob"))
	}
}

// TestE2ESSODeviceFlow: tutti login --sso (device flow) → tutti-aaa →
// the provider → a token for up=bob with fleet-ops' entitlements → a
// request signed centrally and run on the nodes; a user in no entitled
// group is refused with a reason and gets no token.
func TestE2ESSODeviceFlow(t *testing.T) {
	a, p := startSSOFleet(t, nil)
	code, out, stderr := ssoLogin(t, a, deviceCodeRe, func(m []string) error { return p.ApproveDevice(m[1], "bob") },
		"--sso-flow", "device")
	if code != ExitOK || !strings.Contains(out, "Logged in as up=bob") {
		t.Fatalf("sso login as bob: exit %d: %s %s", code, out, stderr)
	}
	if !strings.Contains(stderr, p.Issuer+"/device") {
		t.Fatalf("the device page was not shown: %s", stderr)
	}
	pingAsBob(t, a, 1)

	code, out, stderr = ssoLogin(t, a, deviceCodeRe, func(m []string) error { return p.ApproveDevice(m[1], "mallory") },
		"--sso-flow", "device")
	if code != ExitFailed || !strings.Contains(stderr, "mallory is in no group entitled") {
		t.Fatalf("mallory should be refused: exit %d: %s %s", code, out, stderr)
	}
	// bob's token is still the stored one: a refused login keeps it.
	pingAsBob(t, a, 2)
}

// TestE2ESSOBrowserFlow: tutti login --sso where a browser opens ($BROWSER
// here does nothing; the test is the browser): code + PKCE with the
// CLI's loopback listener as redirect.
func TestE2ESSOBrowserFlow(t *testing.T) {
	a, p := startSSOFleet(t, nil)
	t.Setenv("BROWSER", "true")
	urlRe := regexp.MustCompile(`visit:\n(\S+)`)
	code, out, stderr := ssoLogin(t, a, urlRe, func(m []string) error {
		page, err := p.Browse(m[1], "bob")
		if err == nil && !strings.Contains(page, "Signed in") {
			t.Errorf("loopback page: %q", page)
		}
		return err
	})
	if code != ExitOK || !strings.Contains(out, "Logged in as up=bob") {
		t.Fatalf("sso login as bob: exit %d: %s %s", code, out, stderr)
	}
	pingAsBob(t, a, 1)
}
