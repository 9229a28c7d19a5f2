package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

// In a fleet configured as mixed (here plugin.tutti.require_signed_replies
// = false), a selection Choria's nodes evaluate differently is warned
// about on stderr; the request still goes out, and tutti's nodes still
// select themselves. Without the setting there is no warning.
func TestE2EMixedFleetFilterWarnings(t *testing.T) {
	f := startFleet(t, 2)
	plain := filepath.Join(f.Dir, "demo.conf")
	mixed := filepath.Join(f.Dir, "mixed.conf")
	if err := writeFile(mixed, readFile(t, plain)+"plugin.tutti.require_signed_replies = false\n", 0o644); err != nil {
		t.Fatal(err)
	}
	sel := []string{"-S", "include(agents, 'rpcutil')", "-F", "role=~^WEB"}

	code, out, stderr := runCLI(t, append([]string{"discover", "--config", mixed}, sel...)...)
	if code != 0 || strings.Count(out, "\n") != 2 {
		t.Fatalf("exit %d, stdout %q\n%s", code, out, stderr)
	}
	for _, want := range []string{
		`warning: -S "include(agents, 'rpcutil')": include(agents, ...)`,
		`warning: "role=~^WEB": fact regular expressions are case-insensitive on tutti nodes`,
		"mixed fleet",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}

	code, _, stderr = runCLI(t, append([]string{"ping", "--config", mixed}, sel...)...)
	if code != 0 || !strings.Contains(stderr, `warning: -S "include(agents, 'rpcutil')"`) {
		t.Fatalf("ping: exit %d, stderr:\n%s", code, stderr)
	}

	code, _, stderr = runCLI(t, append([]string{"discover", "--config", plain}, sel...)...)
	if code != 0 || strings.Contains(stderr, "tutti: warning") {
		t.Fatalf("not mixed: exit %d, stderr:\n%s", code, stderr)
	}
	// A translated MCollective statement is no warning (base is a class).
	code, out, stderr = runCLI(t, "discover", "--config", mixed, "-S", "base and role=web and not /^nope/")
	if code != 0 || strings.Count(out, "\n") != 2 || strings.Contains(stderr, "tutti: warning") {
		t.Fatalf("translated statements: exit %d, stdout %q, stderr:\n%s", code, out, stderr)
	}
}

// rpcutil#get_data answers with Choria's data sources on a real fleet:
// the DDL accepts source and the optional query, and the reply is the
// source's output.
func TestE2EGetData(t *testing.T) {
	f := startFleet(t, 1)
	conf := filepath.Join(f.Dir, "demo.conf")
	code, out, stderr := runCLI(t, "rpc", "rpcutil", "get_data", "source=config_item", "query=classesfile", "--config", conf, "--json")
	if code != 0 || !strings.Contains(out, `"present": true`) || !strings.Contains(out, `.classes`) {
		t.Fatalf("config_item: exit %d\n%s\n%s", code, out, stderr)
	}
	code, out, stderr = runCLI(t, "rpc", "rpcutil", "get_data", "source=choria", "--config", conf, "--json")
	if code != 0 || !strings.Contains(out, `"agents_count"`) || !strings.Contains(out, `"classes"`) {
		t.Fatalf("choria: exit %d\n%s\n%s", code, out, stderr)
	}
	code, out, stderr = runCLI(t, "rpc", "rpcutil", "get_data", "source=scout", "--config", conf)
	if code != ExitFailed || !strings.Contains(out, "Unknown data plugin scout") {
		t.Fatalf("scout: exit %d\n%s\n%s", code, out, stderr)
	}
}
