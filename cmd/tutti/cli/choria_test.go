package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tuttifleet/tutti/security/x509"
)

// With plugin.tutti.choria_servers the CLI refuses to sign with a key
// Choria servers cannot verify, and signs with an RSA one.
func TestChoriaServersCLIRefusesNonRSA(t *testing.T) {
	f := startFleet(t, 1)
	conf := filepath.Join(f.Dir, "choria.conf")
	if err := writeFile(conf, readFile(t, filepath.Join(f.Dir, "demo.conf"))+"plugin.tutti.choria_servers = true\n"+
		"plugin.tutti.require_signed_replies = true\n", 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI(t, "ping", "--config", conf)
	for _, want := range []string{"plugin.tutti.choria_servers", `"demo.mcollective" has an ECDSA key`,
		"tutti pki issue --key-type rsa demo.mcollective"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("refusal lacks %q:\n%s", want, stderr)
		}
	}
	if code != ExitFailed || out != "" {
		t.Fatalf("exit %d, stdout %q: nothing may be sent", code, out)
	}

	issueTo(t, f, "rsa.mcollective", x509.IssueOptions{KeyType: x509.KeyRSA})
	rsaConf := filepath.Join(f.Dir, "rsa.conf")
	text := strings.ReplaceAll(readFile(t, conf), "demo.mcollective", "rsa.mcollective")
	if err := writeFile(rsaConf, text, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := runCLI(t, "ping", "--config", rsaConf, "--expect", "1"); code != ExitOK {
		t.Fatalf("RSA caller refused: exit %d\n%s\n%s", code, out, stderr)
	}
}

// tutti pki issue says what a non-RSA caller certificate means for
// Choria servers, and only for caller certificates.
func TestPKIIssueChoriaNote(t *testing.T) {
	dir := t.TempDir()
	if code, out, stderr := runCLI(t, "pki", "init", "--dir", dir); code != ExitOK {
		t.Fatalf("init: %d %s %s", code, out, stderr)
	}
	cases := []struct {
		name, keyType string
		note          bool
	}{
		{"alice.mcollective", "ecdsa", true},
		{"aaa.privileged.mcollective", "ed25519", true},
		{"bob.mcollective", "rsa", false},
		{"node1.example.net", "ecdsa", false},
	}
	for _, c := range cases {
		code, out, stderr := runCLI(t, "pki", "issue", "--dir", dir, "--key-type", c.keyType, c.name)
		if code != ExitOK {
			t.Fatalf("issue %s: %d %s %s", c.name, code, out, stderr)
		}
		if _, err := os.Stat(filepath.Join(dir, c.name+".pem")); err != nil {
			t.Fatal(err)
		}
		got := strings.Contains(out, "Choria servers cannot")
		if got != c.note {
			t.Errorf("%s (%s): note shown %v, want %v:\n%s", c.name, c.keyType, got, c.note, out)
		}
		if c.note && (!strings.Contains(out, "--key-type rsa") || !strings.Contains(out, strings.ToUpper(c.keyType)) ||
			!strings.Contains(out, "plugin.tutti.choria_servers")) {
			t.Errorf("%s: the note must name the key type and the fix:\n%s", c.name, out)
		}
	}
}
