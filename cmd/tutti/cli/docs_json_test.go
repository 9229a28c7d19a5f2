package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// docBlock returns the fenced block that follows "<!-- doc-test: name -->"
// in docs/cli.md.
func docBlock(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "cli.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- doc-test: "+name+" -->\n```")
	if !ok {
		t.Fatalf("docs/cli.md has no doc-test %s block", name)
	}
	_, rest, _ = strings.Cut(rest, "\n") // the fence's language
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatalf("doc-test %s: unclosed block", name)
	}
	return block
}

func keysOf(t *testing.T, v any, what string) []string {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s is not an object: %v", what, v)
	}
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// sameShape checks that the documented document names exactly the
// fields of the real one; optional names only the documented side may
// have.
func sameShape(t *testing.T, what string, doc, real map[string]any, optional ...string) {
	t.Helper()
	for _, k := range keysOf(t, doc, what) {
		if _, ok := real[k]; !ok && !slices.Contains(optional, k) {
			t.Errorf("%s: docs/cli.md documents %q, real output has %v", what, k, keysOf(t, real, what))
		}
	}
	for _, k := range keysOf(t, real, what) {
		if _, ok := doc[k]; !ok {
			t.Errorf("%s: real output has %q, docs/cli.md does not document it", what, k)
		}
	}
}

// The --json documents of docs/cli.md are the shape of real rpc and ping
// output, and the jq lines there work on real output.
func TestDocsJSONShape(t *testing.T) {
	f := startFleet(t, 2)
	conf := filepath.Join(f.Dir, "demo.conf")
	for _, c := range []struct {
		block string
		args  []string
		reply []string // the reply fields only the documented side may have
	}{
		{"rpc-json", []string{"rpc", "rpcutil", "ping", "--json"}, nil},
		{"ping-json", []string{"ping", "--json"}, nil},
	} {
		t.Run(c.block, func(t *testing.T) {
			var doc, real map[string]any
			if err := json.Unmarshal([]byte(docBlock(t, c.block)), &doc); err != nil {
				t.Fatalf("the documented example is not JSON: %v", err)
			}
			code, out, stderr := runCLI(t, append(c.args, "--config", conf)...)
			if err := json.Unmarshal([]byte(out), &real); err != nil || code != ExitOK {
				t.Fatalf("exit %d, %v: %s %s", code, err, out, stderr)
			}
			sameShape(t, "document", doc, real)
			sameShape(t, "stats", doc["stats"].(map[string]any), real["stats"].(map[string]any), "limit", "refused_reasons")
			sameShape(t, "reply", doc["replies"].([]any)[0].(map[string]any), real["replies"].([]any)[0].(map[string]any))
		})
	}
	t.Run("jq lines", func(t *testing.T) {
		for _, line := range strings.Split(strings.TrimSpace(docBlock(t, "jq")), "\n") {
			cmd, prog, ok := strings.Cut(line, " | jq ")
			if !ok || !strings.HasPrefix(cmd, "tutti ") {
				t.Fatalf("not a tutti … | jq line: %s", line)
			}
			args := append(strings.Fields(strings.TrimPrefix(cmd, "tutti ")), "--config", conf)
			code, out, stderr := runCLI(t, args...)
			if code != ExitOK {
				t.Fatalf("%s: exit %d %s", cmd, code, stderr)
			}
			docs := []string{out} // --json: one document; --jsonl: one per line
			if strings.Contains(cmd, "--jsonl") {
				docs = strings.Split(strings.TrimSpace(out), "\n")
			}
			var inputs []any
			for _, d := range docs {
				var v any
				if err := json.Unmarshal([]byte(d), &v); err != nil {
					t.Fatalf("%s: %v", cmd, err)
				}
				inputs = append(inputs, v)
			}
			prog = strings.TrimPrefix(strings.TrimPrefix(prog, "-r "), "-c ")
			if got := miniJQ(t, strings.Trim(prog, "'"), inputs); len(got) == 0 && !strings.Contains(prog, "no_reply") {
				t.Errorf("%s: no result on real output", line)
			}
		}
	})
}

var (
	jqPath   = regexp.MustCompile(`^((\.[a-z_]+)|\[\])+$`)
	jqStep   = regexp.MustCompile(`\.[a-z_]+|\[\]`)
	jqInterp = regexp.MustCompile(`\\\((\.[a-z_.]+)\)`)
	jqSelect = regexp.MustCompile(`^select\((\.[a-z_.]+) == (.+)\)$`)
	jqObject = regexp.MustCompile(`^\{([a-z_, ]+)\}$`)
)

// miniJQ runs the few jq forms docs/cli.md uses — paths (.a.b, .a[]),
// select(.path == literal), {a, b} and "\(.path)" strings — failing the
// test when a name is not in the data: what a documented filter needs.
func miniJQ(t *testing.T, prog string, in []any) []any {
	t.Helper()
	cur := in
	for _, stage := range strings.Split(prog, "|") {
		stage = strings.TrimSpace(stage)
		var next []any
		for _, v := range cur {
			switch {
			case jqPath.MatchString(stage):
				next = append(next, jqWalk(t, v, stage)...)
			case jqSelect.MatchString(stage):
				m := jqSelect.FindStringSubmatch(stage)
				var want any
				if err := json.Unmarshal([]byte(m[2]), &want); err != nil {
					t.Fatalf("select literal %s: %v", m[2], err)
				}
				got := jqWalk(t, v, m[1])
				if len(got) == 1 && jsonEqual(got[0], want) {
					next = append(next, v)
				}
			case jqObject.MatchString(stage):
				for _, k := range strings.Split(jqObject.FindStringSubmatch(stage)[1], ",") {
					jqWalk(t, v, "."+strings.TrimSpace(k))
				}
				next = append(next, v)
			case strings.HasPrefix(stage, `"`):
				for _, m := range jqInterp.FindAllStringSubmatch(stage, -1) {
					jqWalk(t, v, m[1])
				}
				next = append(next, stage)
			default:
				t.Fatalf("jq stage %q: not a form this test knows; extend miniJQ", stage)
			}
		}
		cur = next
	}
	return cur
}

func jqWalk(t *testing.T, v any, path string) []any {
	t.Helper()
	cur := []any{v}
	for _, step := range jqStep.FindAllString(path, -1) {
		var next []any
		for _, c := range cur {
			if step == "[]" {
				list, ok := c.([]any)
				if !ok {
					t.Fatalf("%s: %v is not a list", path, c)
				}
				next = append(next, list...)
				continue
			}
			m, ok := c.(map[string]any)
			if !ok {
				t.Fatalf("%s: %v is not an object", path, c)
			}
			val, ok := m[step[1:]]
			if !ok {
				t.Fatalf("%s: no %q in %v", path, step[1:], keysOf(t, m, path))
			}
			next = append(next, val)
		}
		cur = next
	}
	return cur
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
