package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestQuickstartIdentityMismatch keeps docs/quickstart.md honest: the
// error it quotes for a node whose identity is not its certificate's name
// is the one tuttid gives (it refuses to start), word for word.
func TestQuickstartIdentityMismatch(t *testing.T) {
	err := buildMismatchedNode(t, "node1")
	if err == nil {
		t.Fatal("a node whose identity is not its certificate's name started")
	}
	doc, rerr := os.ReadFile(filepath.Join("..", "..", "docs", "quickstart.md"))
	if rerr != nil {
		t.Fatal(rerr)
	}
	// the quick start wraps lines: compare with white space collapsed
	flat := strings.Join(strings.Fields(string(doc)), " ")
	if want := "tuttid: " + err.Error(); !strings.Contains(flat, want) {
		t.Errorf("docs/quickstart.md does not quote tuttid's refusal; it should contain\n%s", want)
	}
}
