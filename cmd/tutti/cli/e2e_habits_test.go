package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/security/x509"
)

// The habits of Choria and mco users (docs/cli.md, "Flags from Choria
// and mco"), on a real fleet: each command works, or fails at once with
// a sentence naming the cause and the fix.
func TestE2EHabits(t *testing.T) {
	f := startFleet(t, 3)
	conf := f.ClientConfig
	node1 := "node1.demo.example.net"
	replies := func(t *testing.T, out string) int {
		t.Helper()
		var doc struct {
			Replies []json.RawMessage `json:"replies"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
		return len(doc.Replies)
	}
	ok := func(t *testing.T, want int, args ...string) string {
		t.Helper()
		code, out, stderr := runCLI(t, args...)
		if code != ExitOK {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, stderr)
		}
		if want >= 0 && replies(t, out) != want {
			t.Fatalf("%v: want %d replies:\n%s", args, want, out)
		}
		return out
	}
	refused := func(t *testing.T, wantCode int, args []string, want ...string) string {
		t.Helper()
		start := time.Now()
		code, out, stderr := runCLI(t, args...)
		if code != wantCode {
			t.Fatalf("%v: exit %d, want %d\n%s%s", args, code, wantCode, out, stderr)
		}
		for _, w := range want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%v: stderr does not say %q:\n%s", args, w, stderr)
			}
		}
		t.Logf("%v (%s): %s", args, time.Since(start), stderr)
		if d := time.Since(start); d > 8*time.Second {
			t.Errorf("%v took %s: it should fail at once", args, d)
		}
		return stderr
	}

	t.Run("durations in plain seconds", func(t *testing.T) {
		ok(t, 3, "ping", "-c", conf, "--timeout", "5", "--json", "--expect", "3")
		ok(t, 3, "rpc", "rpcutil", "ping", "-c", conf, "--timeout", "5", "--discovery-timeout", "2", "--batch", "2", "--batch-sleep", "0.2", "--json")
		ok(t, 3, "rpc", "rpcutil", "ping", "-c", conf, "-t", "5s", "--dt", "500ms", "--ttl", "1m", "--json")
		refused(t, ExitUsage, []string{"ping", "-c", conf, "--timeout", "5x"}, "not seconds or a duration like 30s")
	})
	t.Run("short and long flags", func(t *testing.T) {
		ok(t, 1, "req", "rpcutil", "ping", "-c", conf, "-j", "--np", "--wi", node1)
		ok(t, 1, "rpc", "rpcutil", "ping", "-c", conf, "-j", "--with-identity", node1)
		ok(t, 2, "rpc", "rpcutil", "ping", "-c", conf, "-j", "--wf", "role=web", "--wa", "rpcutil")
		ok(t, 2, "rpc", "rpcutil", "ping", "-c", conf, "-j", "--with-fact", "role=web", "--with-agent", "rpcutil")
		ok(t, 1, "rpc", "rpcutil", "ping", "-c", conf, "-j", "--wc", "role::db")
		ok(t, 1, "rpc", "rpcutil", "ping", "-c", conf, "-j", "--with-class", "role::db")
		ok(t, 1, "rpc", "rpcutil", "ping", "--config", conf, "-v", "--json", "--no-progress", "-I", node1)
		refused(t, ExitUsage, []string{"rpc", "rpcutil", "ping", "-c", conf, "-dt", "2"}, "two dashes: --dt")
	})
	t.Run("display", func(t *testing.T) {
		all := ok(t, -1, "rpc", "rpcutil", "ping", "-c", conf, "--display", "all")
		failed := ok(t, -1, "rpc", "rpcutil", "ping", "-c", conf, "--display", "failed")
		if !strings.Contains(all, node1) || strings.Contains(failed, node1) || !strings.Contains(failed, "3 OK") {
			t.Fatalf("--display failed still lists OK replies, or all does not:\n%s\n---\n%s", all, failed)
		}
		refused(t, ExitUsage, []string{"rpc", "rpcutil", "ping", "-c", conf, "--display", "some"}, "use ok, failed, all or none")
	})
	t.Run("no config file names the files searched", func(t *testing.T) {
		for _, p := range config.ClientConfigPaths()[2:] {
			if _, err := os.Stat(p); err == nil {
				t.Skipf("%s exists on this machine", p)
			}
		}
		t.Setenv("HOME", t.TempDir())
		refused(t, ExitFailed, []string{"ping"}, "/etc/tutti/client.conf", "/etc/choria/client.conf", ".choriarc", "--config FILE", "-c FILE")
	})
	t.Run("certificate errors name the certificate and setting", func(t *testing.T) {
		other, err := x509.InitDir(filepath.Join(f.Dir, "other"), x509.KeyECDSA)
		if err != nil {
			t.Fatal(err)
		}
		is, err := other.Issue("demo.mcollective", x509.IssueOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := is.WriteFiles(filepath.Join(f.Dir, "other")); err != nil {
			t.Fatal(err)
		}
		issueTo(t, f, "old.mcollective", x509.IssueOptions{NotBefore: time.Now().Add(-48 * time.Hour), Validity: 24 * time.Hour})
		demo, err := os.ReadFile(conf)
		if err != nil {
			t.Fatal(err)
		}
		variant := func(name string, pairs ...string) string {
			p := filepath.Join(f.Dir, name+".conf")
			if err := os.WriteFile(p, []byte(strings.NewReplacer(pairs...).Replace(string(demo))), 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}
		for _, tt := range []struct {
			name string
			conf string
			want []string
		}{
			{"broker not signed by our CA", variant("wrongca", "pki/ca.pem", "other/ca.pem"),
				[]string{"the broker's certificate is not accepted", "unknown authority", "plugin.security.file.ca = " + filepath.Join(f.Dir, "other/ca.pem")}},
			{"broker refuses ours", variant("othercert", "pki/demo.mcollective.", "other/demo.mcollective."),
				[]string{"the broker refused this side's certificate demo.mcollective", "plugin.security.file.certificate = " + filepath.Join(f.Dir, "other/demo.mcollective.pem")}},
			{"our certificate expired", variant("expired", "identity = demo.mcollective", "identity = old.mcollective", "pki/demo.mcollective.", "pki/old.mcollective."),
				[]string{`certificate "old.mcollective" expired on`, "renew", "plugin.security.file.certificate = "}},
			{"key of another certificate", variant("mismatch", "pki/demo.mcollective.key", "pki/guest.mcollective.key"),
				[]string{"does not belong to certificate", "plugin.security.file.key = " + filepath.Join(f.Dir, "pki/guest.mcollective.key")}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				refused(t, ExitFailed, []string{"ping", "-c", tt.conf, "-t", "20"}, tt.want...)
			})
		}
	})
	t.Run("unknown agent", func(t *testing.T) {
		refused(t, ExitUsage, []string{"rpc", "rpcutl", "ping", "-c", conf}, "did you mean rpcutil?", "--force")
		stderr := refused(t, ExitNoReplies, []string{"rpc", "rpcutl", "ping", "-c", conf, "--force", "--dt", "0.5"},
			"no DDL found", "no node answered", "no node has the agent rpcutl", "certname_whitelist")
		if strings.Contains(stderr, "matched the filter") {
			t.Errorf("no filter was given, yet: %s", stderr)
		}
		refused(t, ExitNoReplies, []string{"rpc", "mycustom", "go", "-c", conf, "--dt", "0.5"}, "agent mycustom: no DDL found")
		refused(t, ExitNoReplies, []string{"rpc", "rpcutil", "ping", "-c", conf, "-F", "role=mail", "--dt", "0.5"}, "no nodes matched the filter")
		refused(t, ExitUsage, []string{"plugin", "doc", "servce"}, "did you mean service?")
	})
	t.Run("argument errors exit 64", func(t *testing.T) {
		for _, args := range [][]string{
			{"inventory", "a", "b"}, {"facts"}, {"plugin", "doc", "a", "b"}, {"pki", "issue"}, {"pki", "init", "x"},
			{"discover", "x"}, {"ping", "x"}, {"rpc", "rpcutil"}, {"login", "x"}, {"nosuchverb"},
		} {
			if code, _, stderr := runCLI(t, append(args, "-c", conf)...); code != ExitUsage {
				t.Errorf("%v: exit %d, want 64 (%s)", args, code, stderr)
			}
		}
	})
	t.Run("pki issue refuses to overwrite and past validity", func(t *testing.T) {
		dir := filepath.Join(f.Dir, "pki")
		refused(t, ExitUsage, []string{"pki", "issue", "--dir", dir, "demo.mcollective"}, "demo.mcollective.pem exists", "--force")
		refused(t, ExitUsage, []string{"pki", "issue", "--dir", dir, "--days", "-1", "new.mcollective"}, "--days -1")
		if _, err := os.Stat(filepath.Join(dir, "new.mcollective.pem")); err == nil {
			t.Fatal("a certificate was written for a refused validity")
		}
		if code, _, stderr := runCLI(t, "pki", "issue", "--dir", dir, "--force", "guest.mcollective"); code != ExitOK {
			t.Fatalf("--force: exit %d %s", code, stderr)
		}
	})
}
