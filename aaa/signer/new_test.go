package signer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// New reports a clear error for files it cannot load; it used to panic
// closing auditors through the nil Service it was about to return.
func TestNewLoadErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nonexistent.pem")
	users := filepath.Join(dir, "users.yaml")
	if err := os.WriteFile(users, []byte("[]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"tls certificate", Config{Authenticator: "userlist", Port: -1, TLSCertificate: missing, TLSKey: missing,
			Userlist: UserlistConfig{SigningKey: missing, UsersFile: users}}, "nonexistent.pem"},
		{"signing key after auditors", Config{Authenticator: "userlist", Port: -1, InsecureHTTP: true,
			Auditors: []string{"logfile"}, Userlist: UserlistConfig{SigningKey: missing, UsersFile: users}}, "nonexistent.pem"},
	}
	cases[1].cfg.LogfileAuditor.Logfile = filepath.Join(dir, "audit.log")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := New(&c.cfg, Options{})
			if err == nil || s != nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New = %v, %v; want an error naming %q", s, err, c.want)
			}
		})
	}
}
