package facts

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
)

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	// write and rename, as configuration management tools do, so the
	// watcher never sees a half-written file
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	return p
}

const yamlFacts = `
role: web
cpus: 4
load: 1.5
virtual: false
os:
  family: Debian
  release: {major: "12"}
disks:
  - {name: sda, size: 100}
  - {name: sdb, size: 200}
ports:
  80: http
  443: https
"odd.key": dotted
`

func TestLoadAndFact(t *testing.T) {
	dir := t.TempDir()
	y := write(t, dir, "facts.yaml", yamlFacts)
	j := write(t, dir, "extra.json", `{"role":"db","country":"uk","empty":null}`)
	c := write(t, dir, "classes.txt", "role::web\nApache\n\n  profile::base  \n")
	s, err := Load([]string{y, j}, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path string
		want any
		ok   bool
	}{
		{"role", "db", true}, // later file wins
		{"country", "uk", true},
		{"cpus", float64(4), true},
		{"load", 1.5, true},
		{"virtual", false, true},
		{"os.family", "Debian", true},
		{"os.release.major", "12", true},
		{"os.release", map[string]any{"major": "12"}, true},
		{"disks.1.name", "sdb", true},
		{"disks.2.name", nil, false},
		{"disks.#", float64(2), true},               // gjson count
		{"disks.#.name", []any{"sda", "sdb"}, true}, // gjson query
		{"ports.443", "https", true},                // YAML int keys become strings
		{`odd\.key`, "dotted", true},                // gjson escape
		{"empty", nil, true},
		{"missing", nil, false},
		{"os.missing", nil, false},
		{"role.x", nil, false},
		{"", nil, false},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			got, ok := s.Fact(c.path)
			if ok != c.ok || !reflect.DeepEqual(got, c.want) {
				t.Fatalf("Fact(%q) = %#v, %v; want %#v, %v", c.path, got, ok, c.want, c.ok)
			}
		})
	}
	if want := []string{"role::web", "Apache", "profile::base"}; !reflect.DeepEqual(s.Classes(), want) {
		t.Errorf("Classes = %q, want %q", s.Classes(), want)
	}
	if !s.HasClass("Apache") || s.HasClass("apache") || !s.HasClass("profile::base") {
		t.Error("HasClass must compare exactly with the lines as written")
	}
	if !s.MatchClass(regexp.MustCompile("^profile")) || s.MatchClass(regexp.MustCompile("^nope")) {
		t.Error("MatchClass")
	}
	if !strings.Contains(string(s.JSON()), `"country":"uk"`) {
		t.Errorf("JSON = %s", s.JSON())
	}
	if s.Facts()["role"] != "db" {
		t.Errorf("Facts()[role] = %v", s.Facts()["role"])
	}
}

func TestLoadFormats(t *testing.T) {
	cases := []struct {
		name, content string
		want          map[string]any
		err           string
	}{
		{"a.json", `{"a":1}`, map[string]any{"a": float64(1)}, ""},
		{"a.json", "a: yaml in a json file\n", map[string]any{"a": "yaml in a json file"}, ""},
		{"a.yml", `{"a": true}`, map[string]any{"a": true}, ""},
		{"a.yaml", "", map[string]any{}, ""},
		{"a.json", "  \n", map[string]any{}, ""},
		{"a.yaml", "- 1\n- 2\n", nil, "not a mapping"},
		{"a.json", `[1,2]`, nil, "neither JSON"},
		{"a.yaml", "a: [unclosed\n", nil, "invalid YAML"},
		{"a.yaml", "when: 2024-01-02\n", map[string]any{"when": "2024-01-02T00:00:00Z"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name+" "+c.content, func(t *testing.T) {
			f := write(t, t.TempDir(), c.name, c.content)
			s, err := Load([]string{f}, "", nil)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("Load error = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s.Facts(), c.want) {
				t.Fatalf("Facts = %#v, want %#v", s.Facts(), c.want)
			}
		})
	}
}

func TestMissingFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load([]string{filepath.Join(dir, "nope.yaml")}, "", nil); err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Fatalf("missing fact file: err = %v, want not-exist", err)
	}
	logger, hook := test.NewNullLogger()
	logger.SetLevel(logrus.DebugLevel)
	f := write(t, dir, "f.json", `{}`)
	s, err := Load([]string{f}, filepath.Join(dir, "classes.txt"), logrus.NewEntry(logger))
	if err != nil {
		t.Fatalf("missing classes file must not fail: %v", err)
	}
	if len(s.Classes()) != 0 {
		t.Errorf("Classes = %v", s.Classes())
	}
	var logged bool
	for _, e := range hook.AllEntries() {
		logged = logged || e.Level == logrus.DebugLevel && strings.Contains(e.Message, "no classes file")
	}
	if !logged {
		t.Error("missing classes file was not logged at debug level")
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func TestReloadKeepsOldDataOnError(t *testing.T) {
	dir := t.TempDir()
	f := write(t, dir, "f.yaml", "role: web\n")
	s, err := Load([]string{f}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "f.yaml", "role: [broken\n")
	if err := s.Reload(); err == nil {
		t.Fatal("Reload of an invalid file succeeded")
	}
	if v, _ := s.Fact("role"); v != "web" {
		t.Fatalf("old data lost: role = %v", v)
	}
	write(t, dir, "f.yaml", "role: db\n")
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Fact("role"); v != "db" {
		t.Fatalf("role = %v after reload", v)
	}
}

func TestWatch(t *testing.T) {
	dir := t.TempDir()
	f := write(t, dir, "f.json", `{"role":"web"}`)
	c := filepath.Join(dir, "classes.txt")
	s, err := Load([]string{f}, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Watch(ctx, 5*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()

	write(t, dir, "f.json", `{"role":"database"}`) // size changes
	write(t, dir, "classes.txt", "apache\n")       // file appears
	waitFor(t, func() bool {
		v, _ := s.Fact("role")
		return v == "database" && s.HasClass("apache")
	})
	write(t, dir, "f.json", `{"role":`) // broken: keep old data
	time.Sleep(30 * time.Millisecond)
	if v, _ := s.Fact("role"); v != "database" {
		t.Fatalf("broken file replaced the facts: role = %v", v)
	}
	write(t, dir, "f.json", `{"role":"cache"}`)
	waitFor(t, func() bool { v, _ := s.Fact("role"); return v == "cache" })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStatic(t *testing.T) {
	s := Static(map[string]any{"cpus": 4, "os": map[string]any{"family": "Debian"}}, []string{"apache"})
	if v, ok := s.Fact("cpus"); !ok || v != float64(4) {
		t.Fatalf("cpus = %#v (ints are normalised to float64 like JSON)", v)
	}
	if v, _ := s.Fact("os.family"); v != "Debian" {
		t.Fatalf("os.family = %v", v)
	}
	if !s.HasClass("apache") {
		t.Fatal("HasClass")
	}
	if err := s.Reload(); err != nil {
		t.Fatalf("Reload of a static store: %v", err)
	}
	if !s.HasClass("apache") {
		t.Fatal("a static store lost its classes on Reload")
	}
}

func BenchmarkFact(b *testing.B) {
	s := Static(map[string]any{"role": "web", "os": map[string]any{"family": "Debian"}}, nil)
	for _, path := range []string{"role", "os.family"} {
		b.Run(path, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := s.Fact(path); !ok {
					b.Fatal("missing")
				}
			}
		})
	}
}
