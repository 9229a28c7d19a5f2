package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/aaa/login"
)

func run(t *testing.T, stdin string, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	code := execute(context.Background(), args, strings.NewReader(stdin), &out, &out)
	return out.String(), code
}

func TestUserAddAndTOTP(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "users.yaml")
	if err := os.WriteFile(users, []byte("# fleet operators\n[]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := run(t, "hunter2\n", "user", "add", "bob", "--users-file", users, "--acl", "rpcutil.*", "--totp")
	if code != 0 || !strings.Contains(out, "otpauth://totp/tutti-aaa:bob?") || !strings.Contains(out, "█") || !strings.Contains(out, "Added bob") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	us, err := login.LoadUsersFile(users, nil)
	if err != nil {
		t.Fatal(err)
	}
	bob, ok := us.Lookup("bob")
	if !ok || bob.TOTPSecret == "" || strings.Join(bob.ACLs, ",") != "rpcutil.*" || !strings.Contains(out, bob.TOTPSecret) {
		t.Fatalf("bob = %+v", bob)
	}
	first := bob.TOTPSecret

	if out, code := run(t, "", "user", "add", "bob", "--users-file", users); code == 0 {
		t.Fatalf("second add accepted: %s", out)
	}
	if out, code := run(t, "", "user", "totp", "bob", "--users-file", users, "--issuer", "acme"); code != 0 || !strings.Contains(out, "otpauth://totp/acme:bob?") {
		t.Fatalf("totp: exit %d: %s", code, out)
	}
	_ = us.Reload()
	if bob, _ = us.Lookup("bob"); bob.TOTPSecret == first || bob.TOTPSecret == "" {
		t.Fatal("totp did not replace the secret")
	}
	if out, code := run(t, "", "user", "totp", "bob", "--users-file", users, "--remove"); code != 0 {
		t.Fatalf("remove: exit %d: %s", code, out)
	}
	_ = us.Reload()
	if bob, _ = us.Lookup("bob"); bob.TOTPSecret != "" {
		t.Fatal("--remove left the secret")
	}
	if out, code := run(t, "", "user", "totp", "nobody", "--users-file", users); code == 0 || !strings.Contains(out, `no user "nobody"`) {
		t.Fatalf("unknown user: exit %d: %s", code, out)
	}
	if data, _ := os.ReadFile(users); !strings.Contains(string(data), "# fleet operators") {
		t.Errorf("comment lost:\n%s", data)
	}
}

func TestCodeMatches(t *testing.T) {
	_, secret, _ := login.GenerateTOTP("t", "bob")
	now := time.Now()
	c, _ := login.TOTPCode(secret, now)
	if !codeMatches(secret, c, now) || codeMatches(secret, c, now.Add(5*login.TOTPPeriod)) {
		t.Fatal("codeMatches")
	}
}

func TestTokenRevokeAndList(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "aaa.yaml")
	revocations := filepath.Join(dir, "revocations.json")
	if err := os.WriteFile(cfg, []byte("authenticator: userlist\nport: 8443\ninsecure_http: true\n"+
		"userlist_authenticator: {signing_key: k, users_file: u}\ntoken_revocation: {file: "+revocations+"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := run(t, "", "token", "revoke", "--config", cfg, "--user", "bob", "--reason", "laptop lost", "--by", "alice"); code != 0 || !strings.Contains(out, "every token of bob") {
		t.Fatalf("revoke --user: exit %d: %s", code, out)
	}
	if out, code := run(t, "", "token", "revoke", "--config", cfg, "--id", "2ABCdef"); code != 0 {
		t.Fatalf("revoke --id: exit %d: %s", code, out)
	}
	if out, code := run(t, "", "token", "revoke", "--config", cfg, "--id", "x", "--user", "bob"); code == 0 || !strings.Contains(out, "exactly one") {
		t.Fatalf("both: exit %d: %s", code, out)
	}
	out, code := run(t, "", "token", "list", "--config", cfg)
	if code != 0 || !strings.Contains(out, "user.bob") || !strings.Contains(out, "laptop lost") || !strings.Contains(out, "jti.2ABCdef") {
		t.Fatalf("list: exit %d:\n%s", code, out)
	}
	if out, code := run(t, "", "token", "list", "--config", cfg, "--json"); code != 0 || !strings.Contains(out, `"revoked_at"`) || !strings.Contains(out, `"by": "alice"`) {
		t.Fatalf("list --json: exit %d:\n%s", code, out)
	}
}
