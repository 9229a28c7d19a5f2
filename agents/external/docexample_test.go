package external

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/connector/protocol"
)

// fencedRe matches a fenced block of a Markdown file: its language and body.
var fencedRe = regexp.MustCompile("(?s)```([a-z]*)\n(.*?)```")

// docBlock returns the only fenced block of lang in doc that contains marker.
func docBlock(t *testing.T, doc, lang, marker string) string {
	t.Helper()
	var found []string
	for _, m := range fencedRe.FindAllStringSubmatch(doc, -1) {
		if m[1] == lang && strings.Contains(m[2], marker) {
			found = append(found, m[2])
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %s block with %q in docs/writing-agents.md, found %d", lang, marker, len(found))
	}
	return found[0]
}

// TestDocExampleDisk installs the disk agent of docs/writing-agents.md
// exactly as printed there and runs it: readers copy it.
func TestDocExampleDisk(t *testing.T) {
	for _, tool := range []string{"sh", "df", "awk", "sed"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the example needs %s: %v", tool, err)
		}
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "writing-agents.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	dir := t.TempDir()
	files := map[string]struct {
		text string
		mode os.FileMode
	}{
		"disk.json": {docBlock(t, doc, "json", `"name": "disk"`), 0o644},
		"disk":      {docBlock(t, doc, "sh", "df -P"), 0o755},
	}
	for name, f := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(f.text), f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, f.mode); err != nil { // whatever the umask
			t.Fatal(err)
		}
	}
	l := logrus.New()
	l.SetOutput(io.Discard)
	a, err := Load(dir, "disk", Options{Log: logrus.NewEntry(l)})
	if err != nil {
		t.Fatal(err)
	}

	for _, data := range []string{`{"path":"/"}`, `{}`} { // {}: the DDL default "/"
		rep := run(a, "usage", data)
		if rep.StatusCode != protocol.OK {
			t.Fatalf("usage %s: %+v", data, rep)
		}
		used, ok := dataOf(t, rep)["used_percent"].(float64)
		if !ok || used < 0 || used > 100 || used != float64(int(used)) {
			t.Fatalf("usage %s: used_percent = %v, want a whole percentage", data, dataOf(t, rep)["used_percent"])
		}
	}

	// A path that does not exist is a failure that says why, not 0 %.
	rep := run(a, "usage", `{"path":"/nonexistent/tutti-doc-example"}`)
	if rep.StatusCode != protocol.UnknownError || !strings.Contains(rep.StatusMsg, "exited with status 1") ||
		!strings.Contains(rep.StatusMsg, "/nonexistent/tutti-doc-example") {
		t.Fatalf("missing path: %+v", rep)
	}
	// The DDL keeps shell syntax away from the program.
	if rep := run(a, "usage", `{"path":"/; reboot"}`); rep.StatusCode != protocol.InvalidData {
		t.Fatalf("unsafe path: %+v", rep)
	}
}
