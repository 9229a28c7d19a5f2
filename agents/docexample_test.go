package agents_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// docHelloTest is compiled next to the hello agent of
// docs/writing-agents.md and checks what the page says it does.
const docHelloTest = `package hello

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/tuttifleet/tutti/agents"
)

func TestDocHello(t *testing.T) {
	if _, ok := agents.BuiltinDDL("hello"); !ok {
		t.Fatal("init did not register the DDL")
	}
	a, err := agents.Build("hello", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		data   string
		status int
		want   string
	}{
		{` + "`" + `{"name":"world","times":2}` + "`" + `, 0, "hello world hello world"},
		{` + "`" + `{"name":"world"}` + "`" + `, 0, "hello world"},
		{` + "`" + `{"name":"rm -rf /"}` + "`" + `, 4, "Validation failed: name: \"rm -rf /\" does not match ^[A-Za-z][A-Za-z -]*$"},
		{` + "`" + `{}` + "`" + `, 3, "Action greet needs a name argument"},
		{` + "`" + `{"name":"x","times":5}` + "`" + `, 1, "5 greetings is too many"},
	} {
		rep := a.Run(context.Background(), "greet", &agents.Request{Agent: "hello", Action: "greet", Data: json.RawMessage(c.data)})
		got := rep.StatusMsg
		if rep.StatusCode == 0 {
			b, _ := json.Marshal(rep.Data)
			var m map[string]string
			_ = json.Unmarshal(b, &m)
			got = m["greeting"]
		}
		if int(rep.StatusCode) != c.status || got != c.want {
			t.Errorf("greet %s: status %d %q, want %d %q", c.data, rep.StatusCode, got, c.status, c.want)
		}
	}
}
`

// TestDocExampleHello compiles the Go agent of docs/writing-agents.md,
// as printed there (with its DDL embedded), into a package that exists
// only in a build overlay, and runs docHelloTest against it.
func TestDocExampleHello(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a package with the go command")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("needs the go command: %v", err)
	}
	b, err := os.ReadFile(filepath.Join("..", "docs", "writing-agents.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```([a-z]*)\n(.*?)```").FindAllStringSubmatch(string(b), -1)
	pick := func(lang, marker string) string {
		var found []string
		for _, m := range blocks {
			if m[1] == lang && strings.Contains(m[2], marker) {
				found = append(found, m[2])
			}
		}
		if len(found) != 1 {
			t.Fatalf("want one %s block with %q in docs/writing-agents.md, found %d", lang, marker, len(found))
		}
		return found[0]
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	pkg := filepath.Join(root, "agents", "internal", "dochello") // never written: overlay only
	replace := map[string]string{}
	for name, text := range map[string]string{
		"hello.go":      pick("go", "package hello\n"),
		"hello.json":    pick("json", `"name": "hello"`),
		"hello_test.go": docHelloTest,
	} {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		replace[filepath.Join(pkg, name)] = p
	}
	overlay, err := json.Marshal(map[string]any{"Replace": replace})
	if err != nil {
		t.Fatal(err)
	}
	overlayFile := filepath.Join(tmp, "overlay.json")
	if err := os.WriteFile(overlayFile, overlay, 0o644); err != nil {
		t.Fatal(err)
	}
	// Compile the test binary, then run it elsewhere: the package
	// directory does not exist for go vet or as a working directory.
	bin := filepath.Join(tmp, "dochello.test")
	cmd := exec.Command(goBin, "test", "-c", "-vet=off", "-overlay", overlayFile, "-o", bin, "./agents/internal/dochello")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the hello agent of docs/writing-agents.md does not build: %v\n%s", err, out)
	}
	cmd = exec.Command(bin, "-test.count=1")
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the hello agent of docs/writing-agents.md: %v\n%s", err, out)
	}
}
