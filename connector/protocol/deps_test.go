package protocol_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The layering of the packages: which of our packages may import which.
// Checked with `go list`, so a violation fails the build of the tests.
func TestDependencyRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "github.com/tuttifleet/tutti/...").Output()
	if err != nil {
		t.Skipf("go list unavailable: %v", err)
	}
	const mod = "github.com/tuttifleet/tutti/"
	forbidden := map[string][]string{
		"connector/protocol": {""}, // stdlib only: nothing of ours
		"agents":             {"connector/nats", "connector/stomp", "server", "client"},
		"security":           {"server", "client"},
		"client":             {"server"},
		"server":             {"client"},
		"config":             {"server", "client", "security", "connector", "aaa", "agents"},
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], mod)
		for prefix, bad := range forbidden {
			if pkg != prefix && !strings.HasPrefix(pkg, prefix+"/") {
				continue
			}
			if prefix == "connector/protocol" && pkg != prefix && !strings.HasPrefix(pkg, "connector/protocol/") {
				continue
			}
			for _, imp := range fields[1:] {
				if !strings.HasPrefix(imp, mod) {
					continue
				}
				dep := strings.TrimPrefix(imp, mod)
				for _, b := range bad {
					if (b == "" && !strings.HasPrefix(dep, "connector/protocol")) ||
						(b != "" && (dep == b || strings.HasPrefix(dep, b+"/"))) {
						if prefix == "server" && strings.HasPrefix(pkg, "server/") && b == "client" {
							continue
						}
						t.Errorf("%s must not import %s", pkg, dep)
					}
				}
			}
		}
	}
}
