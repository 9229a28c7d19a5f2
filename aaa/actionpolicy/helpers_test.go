package actionpolicy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mapFacts is a FactSource over JSON-like maps with dotted paths.
type mapFacts map[string]any

func (m mapFacts) Fact(path string) (any, bool) {
	var cur any = map[string]any(m)
	for more := true; more; {
		var part string
		part, path, more = strings.Cut(path, ".")
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// classList is a ClassSource.
type classList []string

func (c classList) HasClass(name string) bool {
	for _, x := range c {
		if x == name {
			return true
		}
	}
	return false
}

func (c classList) Classes() []string { return c }

type testNode struct {
	facts   mapFacts
	classes classList
}

// The nodes of docs/actionpolicy.md §3.
var nodes = map[string]testNode{
	"acme_dev": {mapFacts{"customer": "acme", "environment": "development", "cpus": float64(16), "role": "web"},
		classList{"acme::devserver", "role::web", "base"}},
	"acme_prod": {mapFacts{"customer": "acme", "environment": "production", "cpus": float64(8), "role": "db"},
		classList{"role::db", "base"}},
	"globex": {mapFacts{"customer": "globex", "environment": "production", "cpus": float64(2), "role": "web"},
		classList{"role::web", "base"}},
}

func request(node, caller, agentAction string) Request {
	agent, action, _ := strings.Cut(agentAction, "#")
	n := nodes[node]
	return Request{CallerID: caller, Agent: agent, Action: action, Facts: n.facts, Classes: n.classes}
}

// writeFiles writes name → lines (joined with "\n", trailing newline).
func writeFiles(t testing.TB, dir string, files map[string][]string) {
	t.Helper()
	for name, lines := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
