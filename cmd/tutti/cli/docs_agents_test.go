package cli

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/tuttifleet/tutti/agents"
)

// TestDocsAgentsExamples checks the examples of docs/agents.md: each
// `tutti rpc AGENT ACTION k=v…` names an action of a built-in DDL with
// inputs the DDL accepts, and every action of the agents the page
// describes has one.
func TestDocsAgentsExamples(t *testing.T) {
	b, err := os.ReadFile("../../../docs/agents.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for n, line := range strings.Split(string(b), "\n") {
		cmd, ok := strings.CutPrefix(line, "tutti rpc ")
		if !ok {
			continue
		}
		if i := strings.Index(cmd, " #"); i >= 0 {
			cmd = cmd[:i]
		}
		words, err := shellWords(cmd)
		if err != nil || len(words) < 2 {
			t.Fatalf("docs/agents.md:%d: %q: %v", n+1, line, err)
		}
		d, ok := agents.BuiltinDDL(words[0])
		if !ok {
			t.Fatalf("docs/agents.md:%d: no built-in agent %s", n+1, words[0])
		}
		act, ok := d.Action(words[1])
		if !ok {
			t.Fatalf("docs/agents.md:%d: agent %s has no action %s", n+1, words[0], words[1])
		}
		data := map[string]json.RawMessage{}
		for _, w := range words[2:] {
			if strings.HasPrefix(w, "-") {
				break
			}
			k, v, _ := strings.Cut(w, "=")
			in, ok := act.Input[k]
			if !ok {
				t.Fatalf("docs/agents.md:%d: %s#%s has no input %s", n+1, words[0], words[1], k)
			}
			if data[k], err = in.Convert(v); err != nil {
				t.Fatalf("docs/agents.md:%d: %s: %v", n+1, k, err)
			}
		}
		raw, _ := json.Marshal(data)
		if _, err := act.Validate(raw); err != nil {
			t.Fatalf("docs/agents.md:%d: %v", n+1, err)
		}
		seen[words[0]+"#"+words[1]] = true
	}
	for _, agent := range []string{"package", "process", "filemgr"} {
		d, _ := agents.BuiltinDDL(agent)
		for _, action := range d.ActionNames() {
			if !seen[agent+"#"+action] {
				t.Errorf("docs/agents.md has no example of %s#%s", agent, action)
			}
		}
	}
}
