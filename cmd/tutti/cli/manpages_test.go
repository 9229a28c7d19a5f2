package cli

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra/doc"
)

var manDir = flag.String("man", "", "write the man pages of tutti into this directory (make packages)")

// TestManPages renders a man page per command, as the packages ship them
// (make packages: go test -run TestManPages -man DIR). Without -man it
// renders into a temporary directory and checks the result, so the
// packaging step cannot break unnoticed. Like the CLI reference, the
// generator lives in a test so cobra/doc stays out of the binary.
func TestManPages(t *testing.T) {
	dir := *manDir
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	g := &globals{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard}
	root := NewRoot(g)
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	root.DisableAutoGenTag = true
	hdr := &doc.GenManHeader{Title: "TUTTI", Section: "1", Source: "tutti", Manual: "tutti manual"}
	if err := doc.GenManTree(root, hdr, dir); err != nil {
		t.Fatal(err)
	}
	for _, page := range []string{"tutti.1", "tutti-rpc.1", "tutti-ping.1", "tutti-pki-issue.1"} {
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil {
			t.Fatalf("no man page %s: %v", page, err)
		}
		if !strings.Contains(string(b), ".SH NAME") || !strings.Contains(string(b), ".SH SYNOPSIS") {
			t.Errorf("%s is not a man page:\n%s", page, b)
		}
	}
}
