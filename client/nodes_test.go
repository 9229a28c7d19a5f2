package client

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseNodes(t *testing.T) {
	in := "# web servers\nweb1.example.net\n\n  web2.example.net   # the new one\nweb1.example.net\n\tdb_1-a\n"
	got, err := ParseNodes(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"web1.example.net", "web2.example.net", "db_1-a"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for in, want := range map[string]string{
		"ok\nweb 1\n":                       `line 2: "web 1" is not a node identity`,
		"a/b\n":                             `line 1: "a/b"`,
		strings.Repeat("x", MaxNodesLine+1): "token too long",
		"ok\n$(reboot)\n":                   `line 2: "$(reboot)"`,
	} {
		if _, err := ParseNodes(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseNodes(%.20q) error %v, want %q", in, err, want)
		}
	}
	if got, err := ParseNodes(strings.NewReader("# nothing\n\n")); err != nil || len(got) != 0 {
		t.Fatalf("comments only: %v %v", got, err)
	}
}

func TestReadNodesFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nodes.txt")
	if err := os.WriteFile(p, []byte("a\nb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadNodesFile(p, nil); err != nil || !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("%v %v", got, err)
	}
	if got, err := ReadNodesFile("-", strings.NewReader("c\n")); err != nil || !slices.Equal(got, []string{"c"}) {
		t.Fatalf("stdin: %v %v", got, err)
	}
	if _, err := ReadNodesFile(filepath.Join(t.TempDir(), "missing"), nil); err == nil {
		t.Fatal("missing file accepted")
	}
}

func TestSelectIdentities(t *testing.T) {
	nodes := []string{"web1.example.net", "web2.example.net", "db1.example.net"}
	got, err := SelectIdentities(nodes, []string{"/^web/", "db1.example.net", "other"})
	if err != nil || !slices.Equal(got, nodes) {
		t.Fatalf("%v %v", got, err)
	}
	// Case-sensitive, as nodes match -I (docs/protocol.md §13.2).
	if got, _ = SelectIdentities(nodes, []string{"/^WEB/", "DB1.example.net"}); len(got) != 0 {
		t.Fatalf("/^WEB/: %v", got)
	}
	got, _ = SelectIdentities(nodes, []string{"/2/"})
	if !slices.Equal(got, []string{"web2.example.net"}) {
		t.Fatalf("/2/: %v", got)
	}
	if _, err := SelectIdentities(nodes, []string{"/(/"}); err == nil {
		t.Fatal("bad regex accepted")
	}
}

func FuzzParseNodes(f *testing.F) {
	f.Add("a\n# c\n b # x\n")
	f.Add("\xff\n")
	f.Fuzz(func(t *testing.T, s string) {
		nodes, err := ParseNodes(strings.NewReader(s))
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, n := range nodes {
			if n == "" || seen[n] || !filterIdentityRe.MatchString(n) {
				t.Fatalf("ParseNodes(%q) returned %q", s, n)
			}
			seen[n] = true
		}
	})
}
