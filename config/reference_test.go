package config

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/config-reference.md")

// referencePath is the generated key reference.
var referencePath = filepath.Join("..", "docs", "config-reference.md")

// TestConfigReference fails when docs/config-reference.md does not match
// the key table; `make docs` (go test -run TestConfigReference -update)
// rewrites it.
func TestConfigReference(t *testing.T) {
	ref := Reference()
	if *update {
		if err := os.WriteFile(referencePath, []byte(ref), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(referencePath)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != ref {
		t.Fatal("docs/config-reference.md is stale: run make docs")
	}
}
