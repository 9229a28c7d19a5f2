package cli

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// referencePath is the generated CLI reference.
var referencePath = filepath.Join("..", "..", "..", "docs", "cli-reference.md")

// TestCLIReference fails when docs/cli-reference.md does not match the
// commands; `make docs` (go test -run TestCLIReference -update) rewrites
// it. The generator lives in a test so cobra/doc stays out of the binary.
func TestCLIReference(t *testing.T) {
	var b bytes.Buffer
	if err := writeReference(&b); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(referencePath, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(referencePath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Fatalf("docs/cli-reference.md is stale: run make docs")
	}
	for _, must := range []string{"## tutti rpc", "--limit-seed", "## tutti completion bash", "## tutti discover"} {
		if !strings.Contains(b.String(), must) {
			t.Errorf("reference has no %q", must)
		}
	}
}

// writeReference writes the CLI reference: every command's usage, flags
// and examples as cobra's markdown, in one file with in-page links.
func writeReference(w io.Writer) error {
	g := &globals{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard}
	root := NewRoot(g)
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	var b bytes.Buffer
	b.WriteString("# tutti command reference\n\n" +
		"Generated from the command definitions by `make docs`; do not edit by hand.\n" +
		"See [cli.md](cli.md) for how requests end, the output formats and the exit codes.\n\n")
	var walk func(c *cobra.Command) error
	walk = func(c *cobra.Command) error {
		if !c.IsAvailableCommand() && c != root {
			return nil
		}
		c.DisableAutoGenTag = true
		var page bytes.Buffer
		if err := doc.GenMarkdownCustom(c, &page, anchor); err != nil {
			return err
		}
		b.Write(page.Bytes())
		b.WriteString("\n")
		for _, sub := range c.Commands() {
			if err := walk(sub); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root); err != nil {
		return err
	}
	_, err := w.Write(bytes.TrimRight(b.Bytes(), "\n"))
	if err == nil {
		_, err = io.WriteString(w, "\n")
	}
	return err
}

// anchor turns cobra's per-command file name (tutti_pki_init.md) into a
// link to the command's heading in the single file.
func anchor(file string) string {
	return "#" + strings.ReplaceAll(strings.TrimSuffix(file, ".md"), "_", "-")
}
