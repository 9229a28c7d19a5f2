package agents_test

import (
	"go/format"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// docBlocks returns the fenced blocks of docs/writing-agents.md as
// (language, text) pairs.
func docBlocks(t *testing.T) [][2]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "writing-agents.md"))
	if err != nil {
		t.Fatal(err)
	}
	var out [][2]string
	for _, m := range regexp.MustCompile("(?s)```([a-z]*)\n(.*?)```").FindAllStringSubmatch(string(b), -1) {
		out = append(out, [2]string{m[1], m[2]})
	}
	return out
}

// docBlock returns the one block of lang that contains marker.
func docBlock(t *testing.T, blocks [][2]string, lang, marker string) string {
	t.Helper()
	var found []string
	for _, b := range blocks {
		if b[0] == lang && strings.Contains(b[1], marker) {
			found = append(found, b[1])
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %s block with %q in docs/writing-agents.md, found %d", lang, marker, len(found))
	}
	return found[0]
}

// TestDocGoIsFormatted: readers copy the Go code of the page into their
// trees, where `make fmt` (gofmt -l) must stay clean.
func TestDocGoIsFormatted(t *testing.T) {
	n := 0
	for _, b := range docBlocks(t) {
		if b[0] != "go" || !strings.Contains(b[1], "package ") {
			continue
		}
		n++
		got, err := format.Source([]byte(b[1]))
		if err != nil {
			t.Errorf("a Go block does not parse: %v\n%s", err, b[1])
			continue
		}
		if string(got) != b[1] {
			t.Errorf("a Go block is not gofmt-ed; gofmt makes it\n%s", got)
		}
	}
	if n < 4 {
		t.Errorf("found %d complete Go files in the page, want at least 4", n)
	}
}

// TestDocOwnModule runs the "own repository" recipe of
// docs/writing-agents.md as printed: a module next to this tutti tree
// with the hello agent, its test and the two commands; go mod tidy, go
// test ./..., go build and gofmt must all pass. It needs the go command
// and the module cache tutti's own build filled (no network: GOPROXY=off).
// With no network the checksum database cannot be asked either: tutti's
// go.sum, whose lines were checked against it when each module was
// added, is put beside the new go.mod after go mod init and stands in for
// it (go mod tidy keeps the lines the new module needs).
func TestDocOwnModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module with the go command")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("needs the go command: %v", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	blocks := docBlocks(t)
	ws := t.TempDir()
	if err := os.Symlink(root, filepath.Join(ws, "tutti")); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(ws, "tutti-agents")
	for name, text := range map[string]string{
		"hello/hello.go":      docBlock(t, blocks, "go", "package hello\n"),
		"hello/hello.json":    docBlock(t, blocks, "json", `"name": "hello"`),
		"hello/hello_test.go": docBlock(t, blocks, "go", "package hello_test"),
		"cmd/tuttid/main.go":  docBlock(t, blocks, "go", "daemon.RunNode"),
		"cmd/tutti/main.go":   docBlock(t, blocks, "go", "cli.Main"),
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	recipe := docBlock(t, blocks, "sh", "go mod init example.net/tutti-agents")
	env := append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=mod", "GOWORK=off", "GOTOOLCHAIN=local")
	ran := 0
	for _, line := range strings.Split(recipe, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "go ") {
			continue // mkdir, cd and comments: done above
		}
		args := strings.Fields(line)[1:]
		cmd := exec.Command(goBin, args...)
		cmd.Dir, cmd.Env = dir, env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("docs/writing-agents.md: %s: %v\n%s", line, err, out)
		}
		if len(args) > 1 && args[0] == "mod" && args[1] == "init" {
			sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		ran++
	}
	if ran < 5 {
		t.Fatalf("ran %d go commands of the recipe, want 5 (init, edit, tidy, test, build)", ran)
	}
	for _, bin := range []string{"tuttid", "tutti"} {
		if _, err := os.Stat(filepath.Join(dir, "bin", bin)); err != nil {
			t.Errorf("the recipe built no %s: %v", bin, err)
		}
	}
	out, err := exec.Command("gofmt", "-l", dir).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("gofmt -l: %v %s", err, out)
	}
}
