package filter

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/connector/protocol/compound"
	"github.com/tuttifleet/tutti/server/facts"
)

// testNode is a node with real fact storage.
type testNode struct {
	*facts.Store
	id     string
	agents []string
}

func (n *testNode) Identity() string          { return n.id }
func (n *testNode) HasAgent(name string) bool { return slices.Contains(n.agents, name) }
func (n *testNode) Agents() []string          { return n.agents }

func newNode() *testNode {
	return &testNode{
		Store: facts.Static(map[string]any{
			"role":    "web",
			"country": "UK",
			"cpus":    4,
			"load":    1.5,
			"virtual": false,
			"os":      map[string]any{"family": "Debian"},
			"ips":     []any{"10.0.0.1"},
		}, []string{"role::web", "apache"}),
		id:     "web1.example.net",
		agents: []string{"rpcutil", "service", "discovery"},
	}
}

func ff(name, op, value string) protocol.FactFilter {
	return protocol.FactFilter{Fact: name, Operator: op, Value: value}
}

func exprs(srcs ...string) [][]protocol.CompoundEntry {
	out := make([][]protocol.CompoundEntry, 0, len(srcs))
	for _, s := range srcs {
		out = append(out, []protocol.CompoundEntry{{Expr: s}})
	}
	return out
}

func TestMatch(t *testing.T) {
	cases := []struct {
		name string
		f    protocol.Filter
		want bool
	}{
		{"empty filter matches all", protocol.Filter{}, true},

		{"identity exact", protocol.Filter{Identity: []string{"web1.example.net"}}, true},
		{"identity exact is not a substring", protocol.Filter{Identity: []string{"web1"}}, false},
		{"identity regex", protocol.Filter{Identity: []string{"/^web\\d/"}}, true},
		{"identity regex search", protocol.Filter{Identity: []string{"/example/"}}, true},
		{"identity regex case-sensitive", protocol.Filter{Identity: []string{"/^WEB/"}}, false},
		{"identity exact case-sensitive", protocol.Filter{Identity: []string{"WEB1.example.net"}}, false},
		{"identity OR", protocol.Filter{Identity: []string{"db1", "web1.example.net"}}, true},
		{"identity OR, two match", protocol.Filter{Identity: []string{"/web/", "web1.example.net"}}, true},
		{"identity none", protocol.Filter{Identity: []string{"db1", "/^db/"}}, false},
		{"identity exact: metacharacters are literal", protocol.Filter{Identity: []string{"web1.example.ne.", "web1.example.net.*", "^web1.example.net$"}}, false},

		{"agent exact", protocol.Filter{Agent: []string{"rpcutil"}}, true},
		{"agent missing", protocol.Filter{Agent: []string{"puppet"}}, false},
		{"agent AND", protocol.Filter{Agent: []string{"rpcutil", "service"}}, true},
		{"agent AND fails", protocol.Filter{Agent: []string{"rpcutil", "puppet"}}, false},
		{"agent regex", protocol.Filter{Agent: []string{"/^serv/"}}, true},
		{"agent regex none", protocol.Filter{Agent: []string{"/^pup/"}}, false},
		{"agent regex case-sensitive", protocol.Filter{Agent: []string{"/^SERV/"}}, false},

		{"class exact", protocol.Filter{CFClass: []string{"apache"}}, true},
		{"class exact case-sensitive", protocol.Filter{CFClass: []string{"Role::Web"}}, false},
		{"class missing", protocol.Filter{CFClass: []string{"nginx"}}, false},
		{"class AND", protocol.Filter{CFClass: []string{"apache", "nginx"}}, false},
		{"class regex case-sensitive", protocol.Filter{CFClass: []string{"/^ROLE::/"}}, false},
		{"class regex", protocol.Filter{CFClass: []string{"/^role::/"}}, true},
		{"fact regex stays case-insensitive", protocol.Filter{Fact: []protocol.FactFilter{ff("role", "=~", "/^WE/")}}, true},
		{"class regex none", protocol.Filter{CFClass: []string{"/^db/"}}, false},

		{"fact ==", protocol.Filter{Fact: []protocol.FactFilter{ff("role", "==", "web")}}, true},
		{"fact == case-insensitive", protocol.Filter{Fact: []protocol.FactFilter{ff("country", "==", "uk")}}, true},
		{"fact !=", protocol.Filter{Fact: []protocol.FactFilter{ff("role", "!=", "db")}}, true},
		{"fact != same", protocol.Filter{Fact: []protocol.FactFilter{ff("role", "!=", "web")}}, false},
		{"fact <", protocol.Filter{Fact: []protocol.FactFilter{ff("cpus", "<", "16")}}, true},
		{"fact <=", protocol.Filter{Fact: []protocol.FactFilter{ff("cpus", "<=", "4")}}, true},
		{"fact >", protocol.Filter{Fact: []protocol.FactFilter{ff("cpus", ">", "4")}}, false},
		{"fact >=", protocol.Filter{Fact: []protocol.FactFilter{ff("cpus", ">=", "4")}}, true},
		{"float > is not >= (W15)", protocol.Filter{Fact: []protocol.FactFilter{ff("load", ">", "1.5")}}, false},
		{"float >=", protocol.Filter{Fact: []protocol.FactFilter{ff("load", ">=", "1.5")}}, true},
		{"fact != false (W15)", protocol.Filter{Fact: []protocol.FactFilter{ff("virtual", "!=", "true")}}, true},
		{"fact == false", protocol.Filter{Fact: []protocol.FactFilter{ff("virtual", "==", "false")}}, true},
		{"fact =~", protocol.Filter{Fact: []protocol.FactFilter{ff("os.family", "=~", "^deb")}}, true},
		{"fact =~ slashes", protocol.Filter{Fact: []protocol.FactFilter{ff("os.family", "=~", "/^DEB/")}}, true},
		{"fact missing", protocol.Filter{Fact: []protocol.FactFilter{ff("nope", "!=", "x")}}, false},
		{"fact array never matches", protocol.Filter{Fact: []protocol.FactFilter{ff("ips", "==", "10.0.0.1")}}, false},
		{"fact AND", protocol.Filter{Fact: []protocol.FactFilter{ff("role", "==", "web"), ff("cpus", ">", "8")}}, false},

		{"compound true", protocol.Filter{Compound: exprs("with('role=web') && fact('os.family') == 'Debian'")}, true},
		{"compound bare", protocol.Filter{Compound: exprs("role=web and not /^db/")}, true},
		{"compound false", protocol.Filter{Compound: exprs("with('role=db')")}, false},
		{"compound all true", protocol.Filter{Compound: exprs("true", "apache", "cpus>=4")}, true},
		{"compound [T,T,F] matches nothing (W14)", protocol.Filter{Compound: exprs("true", "true", "false")}, false},
		{"compound [T,F,T,F] (W14)", protocol.Filter{Compound: exprs("true", "false", "true", "false")}, false},
		{"compound empty group", protocol.Filter{Compound: [][]protocol.CompoundEntry{{}}}, true},

		{"all types AND", protocol.Filter{
			Identity: []string{"/^web/"}, Agent: []string{"rpcutil"}, CFClass: []string{"apache"},
			Fact: []protocol.FactFilter{ff("role", "==", "web")}, Compound: exprs("cpus>=4"),
		}, true},
		{"all types, one fails", protocol.Filter{
			Identity: []string{"/^web/"}, Agent: []string{"rpcutil"}, CFClass: []string{"apache"},
			Fact: []protocol.FactFilter{ff("role", "==", "web")}, Compound: exprs("cpus>4"),
		}, false},
	}
	n := newNode()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := Match(&c.f, n)
			if err != nil {
				t.Fatalf("Match error: %v", err)
			}
			if r.Match != c.want {
				t.Fatalf("Match = %v (%s), want %v", r.Match, r.Reason, c.want)
			}
			if !r.Match && r.Reason == "" {
				t.Fatal("a non-match has no reason")
			}
		})
	}
}

func TestMatchNilFilter(t *testing.T) {
	if r, err := Match(nil, newNode()); !r.Match || err != nil {
		t.Fatalf("nil filter: %v %v", r, err)
	}
}

func TestMatchErrors(t *testing.T) {
	cases := []struct {
		name   string
		f      protocol.Filter
		reason string
		is     error
	}{
		{"identity regex", protocol.Filter{Identity: []string{"/(/"}}, "identity filter /(/ is invalid", nil},
		{"agent regex", protocol.Filter{Agent: []string{"/[/"}}, "agent filter /[/ is invalid", nil},
		{"class regex", protocol.Filter{CFClass: []string{"/[/"}}, "class filter /[/ is invalid", nil},
		{"fact regex", protocol.Filter{Fact: []protocol.FactFilter{ff("role", "=~", "(")}}, "fact role=~( is invalid", nil},
		{"fact operator", protocol.Filter{Fact: []protocol.FactFilter{ff("role", "~~", "x")}}, "is invalid", nil},
		{"expression syntax", protocol.Filter{Compound: exprs("role=web and")}, "is invalid", nil},
		{"unknown function (W16)", protocol.Filter{Compound: exprs("not puppet().enabled == false")}, "failed", compound.ErrUnknownFunction},
		{"non-boolean", protocol.Filter{Compound: exprs("fact('role')")}, "failed", nil},
		{"mcollective token list", protocol.Filter{Compound: [][]protocol.CompoundEntry{{{Raw: map[string]json.RawMessage{"statement": []byte(`"role=web"`)}}}}}, "not a Choria expression", nil},
	}
	n := newNode()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := Match(&c.f, n)
			if r.Match || err == nil {
				t.Fatalf("Match = %v, %v; want no match and an error", r, err)
			}
			if !strings.Contains(r.Reason, c.reason) {
				t.Errorf("Reason = %q, want it to contain %q", r.Reason, c.reason)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, c.is)
			}
			var se *compound.SyntaxError
			if c.name == "expression syntax" && !errors.As(err, &se) {
				t.Errorf("error %v does not carry the *compound.SyntaxError", err)
			}
		})
	}
}

func TestMatcherCache(t *testing.T) {
	m := NewMatcher(2)
	n := newNode()
	for i := range 5 {
		f := protocol.Filter{Compound: exprs(fmt.Sprintf("cpus>=%d", i))}
		r, err := m.Match(&f, n)
		if err != nil || r.Match != (i <= 4) {
			t.Fatalf("cpus>=%d: %v %v", i, r, err)
		}
	}
	if len(m.exprs) > 2 {
		t.Fatalf("cache holds %d expressions, bound is 2", len(m.exprs))
	}
	// a cached parse error stays an error
	bad := protocol.Filter{Compound: exprs("(")}
	for range 2 {
		if _, err := m.Match(&bad, n); err == nil {
			t.Fatal("cached invalid expression matched without error")
		}
	}
}

func TestMatchConcurrent(t *testing.T) {
	m := NewMatcher(4)
	n := newNode()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 100 {
				f := protocol.Filter{Agent: []string{"rpcutil"}, Compound: exprs(fmt.Sprintf("cpus>=%d", (g+i)%8))}
				r, err := m.Match(&f, n)
				if err != nil || r.Match != ((g+i)%8 <= 4) {
					t.Errorf("Match = %v, %v", r, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkMatch(b *testing.B) {
	cases := []struct {
		name string
		f    protocol.Filter
	}{
		{"agent", protocol.Filter{Agent: []string{"rpcutil"}}},
		{"fact+class", protocol.Filter{Agent: []string{"rpcutil"}, CFClass: []string{"apache"},
			Fact: []protocol.FactFilter{ff("os.family", "==", "debian")}}},
		{"identity-regex", protocol.Filter{Identity: []string{"/^web/"}}},
		{"compound", protocol.Filter{Compound: exprs("with('role=web') && fact('os.family') == 'Debian'")}},
	}
	n := newNode()
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if r, err := Match(&c.f, n); !r.Match || err != nil {
					b.Fatal(r, err)
				}
			}
		})
	}
}
