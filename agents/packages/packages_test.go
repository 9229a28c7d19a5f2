package packages

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/agents"
	"github.com/tuttifleet/tutti/connector/protocol"
)

// fakeDNF installs the fake dnf and rpm in a fresh directory.
func fakeDNF(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range []string{"dnf", "rpm"} {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func build(t *testing.T, provider, dir string) agents.Agent {
	t.Helper()
	a, err := NewWith(provider, dir)
	if err != nil {
		t.Fatal(err)
	}
	a, err = agents.WithDDL(a, DDL)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func call(ctx context.Context, a agents.Agent, action string, in map[string]string) agents.Reply {
	for k, v := range in {
		if k == "version" && v == "" {
			delete(in, k)
		}
	}
	data, _ := json.Marshal(in)
	return a.Run(ctx, action, &agents.Request{Agent: "package", Action: action, Data: data})
}

func ensure(t *testing.T, rep agents.Reply) string {
	t.Helper()
	st, ok := rep.Data.(state)
	if !ok {
		t.Fatalf("reply %+v", rep)
	}
	return st.Ensure
}

func TestDNF(t *testing.T) {
	dir := fakeDNF(t)
	a := build(t, "", dir) // auto: no apt-get there, dnf is
	ctx := context.Background()
	for _, step := range []struct {
		action, pkg, version, ensure string
	}{
		{"status", "nginx", "", "absent"},
		{"install", "nginx", "", "1.0-1.el9"},
		{"update", "nginx", "", "2.0-1.el9"},
		{"uninstall", "nginx", "", "absent"},
		{"uninstall", "nginx", "", "absent"},
		{"install", "nginx", "1.24.0", "1.24.0-1.el9"},
		{"purge", "nginx", "", "absent"},
	} {
		rep := call(ctx, a, step.action, map[string]string{"package": step.pkg, "version": step.version})
		if rep.StatusCode != protocol.OK || ensure(t, rep) != step.ensure {
			t.Fatalf("%s %s: %+v", step.action, step.pkg, rep)
		}
	}
	call(ctx, a, "install", map[string]string{"package": "zsh"})
	rep := call(ctx, a, "count", nil)
	if rep.StatusCode != protocol.OK || rep.Data.(map[string]any)["output"] != "1" {
		t.Fatalf("count %+v", rep)
	}
	rep = call(ctx, a, "md5", nil)
	if rep.Data.(map[string]any)["output"] != md5Hex("zsh-0:1.0-1.el9.x86_64") {
		t.Fatalf("md5 %+v", rep)
	}
	rep = call(ctx, a, "install", map[string]string{"package": "missing-pkg"})
	if rep.StatusCode != protocol.Aborted || !strings.Contains(rep.StatusMsg, "Unable to find a match: missing-pkg") {
		t.Fatalf("missing: %+v", rep)
	}
	rep = call(ctx, a, "update", map[string]string{"package": "nginx", "version": "1"})
	if rep.StatusCode != protocol.InvalidData || !strings.Contains(rep.StatusMsg, "only install takes a version") {
		t.Fatalf("update with a version: %+v", rep)
	}
	calls, _ := os.ReadFile(filepath.Join(dir, "calls.log"))
	if !strings.Contains(string(calls), "dnf install -y -- nginx-1.24.0\n") || !strings.Contains(string(calls), "rpm -q --qf") {
		t.Fatalf("calls:\n%s", calls)
	}
}

func TestTimeoutKillsTheChange(t *testing.T) {
	a := build(t, "dnf", fakeDNF(t))
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	rep := call(ctx, a, "install", map[string]string{"package": "slowpkg"})
	if rep.StatusCode != protocol.Aborted || !strings.Contains(rep.StatusMsg, "dnf did not finish in time") {
		t.Fatalf("slow install: %+v", rep)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the timeout took %s", d)
	}
}

func TestNoPackageManager(t *testing.T) {
	a := build(t, "", t.TempDir())
	for _, action := range []string{"status", "install", "count", "md5"} {
		rep := call(context.Background(), a, action, map[string]string{"package": "nginx"})
		if rep.StatusCode != protocol.Aborted || !strings.Contains(rep.StatusMsg, "no supported package manager") {
			t.Fatalf("%s: %+v", action, rep)
		}
	}
	if _, err := NewWith("zypper", "/usr/bin"); err == nil || !strings.Contains(err.Error(), "must be auto, apt or dnf") {
		t.Fatalf("bad provider: %v", err)
	}
	if _, err := NewWith("", "usr/bin"); err == nil || !strings.Contains(err.Error(), "must be an absolute path") {
		t.Fatalf("relative bindir: %v", err)
	}
}

type validator interface {
	ValidateInput(string, json.RawMessage) (json.RawMessage, protocol.StatusCode, string)
}

func TestNamesRefused(t *testing.T) {
	dir := fakeDNF(t)
	a := build(t, "dnf", dir)
	for _, bad := range []string{"", "-y", "--installroot=/x", "nginx*", "ngin?", "[a]", "../x", "/etc/passwd", "a b", "a;b", "$(id)",
		"`id`", "@core", "a\n", "ünicode", ".hidden", "_x", "a:", "a:B", "a:b:c", strings.Repeat("a", MaxNameLength+1)} {
		_, code, msg := a.(validator).ValidateInput("install", json.RawMessage(`{"package":`+quote(bad)+`}`))
		if code != protocol.InvalidData && code != protocol.MissingData {
			t.Errorf("%q passed the DDL: %d %s", bad, code, msg)
		}
		inner, _ := NewWith("dnf", dir)
		for _, action := range DDL.ActionNames() {
			if action == "count" || action == "md5" {
				continue
			}
			rep := call(context.Background(), inner, action, map[string]string{"package": bad})
			if rep.StatusCode != protocol.InvalidData || !strings.Contains(rep.StatusMsg, "Validation failed: package:") {
				t.Errorf("%s %q: %+v", action, bad, rep)
			}
		}
	}
	for _, good := range []string{"nginx", "libstdc++", "python3.11", "perl-Net_SSLeay", "libc6:i386", "0ad", strings.Repeat("a", MaxNameLength)} {
		if err := ValidName(good); err != nil {
			t.Errorf("%q refused: %v", good, err)
		}
	}
	for _, bad := range []string{"-1", "1;2", "1 2", "1*"} {
		if ValidVersion(bad) == nil {
			t.Errorf("version %q accepted", bad)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "calls.log")); !os.IsNotExist(err) {
		t.Fatalf("a package tool ran for a refused name: %v", err)
	}
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

func TestSplitDebVersion(t *testing.T) {
	for _, tc := range []struct{ in, e, v, r string }{
		{"2.10-3", "0", "2.10", "3"}, {"1:25.2.3+dfsg-1+deb12u4", "1", "25.2.3+dfsg", "1+deb12u4"}, {"5.2", "0", "5.2", ""},
		{"1.0-2-3", "0", "1.0-2", "3"},
	} {
		if e, v, r := splitDebVersion(tc.in); e != tc.e || v != tc.v || r != tc.r {
			t.Errorf("%s: %s %s %s", tc.in, e, v, r)
		}
	}
}

func FuzzValidName(f *testing.F) {
	for _, s := range []string{"nginx", "-x", "a/b", "libc6:i386", "a*", "python3.11"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidName(s)
		_, dErr := DDL.Validate("status", json.RawMessage(`{"package":`+quote(s)+`}`))
		if err == nil {
			if strings.HasPrefix(s, "-") || strings.ContainsAny(s, "/ \t\n;|&$`\\'\"*?[]@=") || len(s) > MaxNameLength {
				t.Fatalf("ValidName accepted %q", s)
			}
			if dErr != nil {
				t.Fatalf("ValidName accepts %q but the DDL refuses it: %v", s, dErr)
			}
		}
	})
}
