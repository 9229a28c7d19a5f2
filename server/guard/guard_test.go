package guard_test

import (
	"strings"
	"testing"

	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/server/guard"
)

func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "node" + strings.Repeat("x", i)
	}
	return out
}

func TestCheck(t *testing.T) {
	p := &guard.Policy{
		Rules:      []guard.Rule{{Agent: "service", Action: "restart"}, {Agent: "service", Action: "stop", MaxTargets: 2}, {Agent: "puppet", Action: "*", MaxTargets: 5}},
		MaxTargets: 3, Selectors: true,
	}
	strict := &guard.Policy{Rules: p.Rules, MaxTargets: 3} // selectors do not count
	fact := []protocol.FactFilter{{Fact: "role", Operator: "==", Value: "web"}}
	for _, tc := range []struct {
		name          string
		p             *guard.Policy
		agent, action string
		f             protocol.Filter
		refused       bool
		guard         string
		max, targets  int
	}{
		{"unguarded action, no filter", p, "service", "status", protocol.NewFilter("service"), false, "", 0, 0},
		{"unguarded agent", p, "rpcutil", "ping", protocol.Filter{}, false, "", 0, 0},
		{"no filter", p, "service", "restart", protocol.NewFilter("service"), true, "service#restart", 3, -1},
		{"agent filter naming another agent is no narrowing", p, "service", "restart", protocol.Filter{Agent: []string{"service", "puppet"}}, true, "service#restart", 3, -1},
		{"names 3 of 3", p, "service", "restart", protocol.Filter{Agent: []string{"service"}, Identity: ids(3)}, false, "", 0, 0},
		{"names 4 of 3", p, "service", "restart", protocol.Filter{Identity: ids(4)}, true, "service#restart", 3, 4},
		{"rule's own max", p, "service", "stop", protocol.Filter{Identity: ids(3)}, true, "service#stop", 2, 3},
		{"rule's own max, within", p, "service", "stop", protocol.Filter{Identity: ids(2)}, false, "", 0, 0},
		{"wildcard rule", p, "puppet", "runonce", protocol.Filter{Identity: ids(6)}, true, "puppet#*", 5, 6},
		{"wildcard rule, within", p, "puppet", "runonce", protocol.Filter{Identity: ids(5)}, false, "", 0, 0},
		{"regex identity names no node", p, "service", "restart", protocol.Filter{Identity: []string{"/web/"}}, true, "service#restart", 3, -1},
		{"regex among names", p, "service", "restart", protocol.Filter{Identity: []string{"a", "/web/"}}, true, "service#restart", 3, -1},
		{"fact filter", p, "service", "restart", protocol.Filter{Fact: fact}, false, "", 0, 0},
		{"class filter", p, "service", "restart", protocol.Filter{CFClass: []string{"web"}}, false, "", 0, 0},
		{"compound filter", p, "service", "restart", protocol.Filter{Compound: [][]protocol.CompoundEntry{{{Expr: "role=web"}}}}, false, "", 0, 0},
		{"fact filter with many names", p, "service", "restart", protocol.Filter{Fact: fact, Identity: ids(64)}, false, "", 0, 0},
		{"fact filter, selectors off", strict, "service", "restart", protocol.Filter{Fact: fact}, true, "service#restart", 3, -1},
		{"names within, selectors off", strict, "service", "restart", protocol.Filter{Fact: fact, Identity: ids(2)}, false, "", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.p.Check(tc.agent, tc.action, &tc.f)
			if (r != nil) != tc.refused {
				t.Fatalf("refused = %v (%v), want %v", r != nil, r, tc.refused)
			}
			if r == nil {
				return
			}
			if r.Data.Guard != tc.guard || r.Data.MaxTargets != tc.max || r.Data.Targets != tc.targets || r.Data.Selectors != tc.p.Selectors {
				t.Fatalf("data = %+v, want guard %s max %d targets %d", r.Data, tc.guard, tc.max, tc.targets)
			}
			if !protocol.IsGuardRefusal(protocol.Aborted, r.Msg) || !strings.Contains(r.Msg, "--batch") || !strings.Contains(r.Msg, "-I NODE") {
				t.Fatalf("message does not say how to narrow or batch: %q", r.Msg)
			}
			if strings.Contains(r.Msg, "-F fact=value") != tc.p.Selectors {
				t.Fatalf("message offers -F with selectors=%v: %q", tc.p.Selectors, r.Msg)
			}
		})
	}
}

func TestDefaultMaxTargets(t *testing.T) {
	p := &guard.Policy{Rules: []guard.Rule{{Agent: "service", Action: "restart"}}}
	if r := p.Check("service", "restart", &protocol.Filter{Identity: ids(guard.DefaultMaxTargets)}); r != nil {
		t.Fatalf("%d names refused: %v", guard.DefaultMaxTargets, r)
	}
	if r := p.Check("service", "restart", &protocol.Filter{Identity: ids(guard.DefaultMaxTargets + 1)}); r == nil || r.Data.MaxTargets != guard.DefaultMaxTargets {
		t.Fatalf("%d names: %v", guard.DefaultMaxTargets+1, r)
	}
}

func TestRuleSpecificWinsOverWildcard(t *testing.T) {
	p := &guard.Policy{Rules: []guard.Rule{{Agent: "service", Action: "*", MaxTargets: 1}, {Agent: "service", Action: "restart", MaxTargets: 4}}}
	if r, _ := p.Rule("service", "restart"); r.MaxTargets != 4 {
		t.Fatalf("rule for service#restart = %+v", r)
	}
	if r, _ := p.Rule("service", "stop"); r.Action != "*" {
		t.Fatalf("rule for service#stop = %+v", r)
	}
	if _, ok := p.Rule("puppet", "stop"); ok {
		t.Fatal("puppet#stop is guarded")
	}
}

func TestRequireFilter(t *testing.T) {
	p := &guard.Policy{RequireFilter: true}
	for _, tc := range []struct {
		name    string
		agent   string
		f       protocol.Filter
		refused bool
	}{
		{"nothing", "service", protocol.Filter{}, true},
		{"own agent only", "service", protocol.NewFilter("service"), true},
		{"another agent", "service", protocol.Filter{Agent: []string{"service", "puppet"}}, false},
		{"identity", "service", protocol.Filter{Identity: []string{"web1"}}, false},
		{"identity regex", "service", protocol.Filter{Identity: []string{"/web/"}}, false},
		{"fact", "service", protocol.Filter{Fact: []protocol.FactFilter{{Fact: "a", Operator: "==", Value: "b"}}}, false},
		{"class", "service", protocol.Filter{CFClass: []string{"web"}}, false},
		{"compound", "service", protocol.Filter{Compound: [][]protocol.CompoundEntry{{{Expr: "a=b"}}}}, false},
		{"discovery, nothing", protocol.DiscoveryAgent, protocol.Filter{}, true},
		{"discovery, the agent discovered", protocol.DiscoveryAgent, protocol.NewFilter("service"), true},
		{"discovery, two agents", protocol.DiscoveryAgent, protocol.Filter{Agent: []string{"service", "puppet"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := p.Check(tc.agent, "restart", &tc.f)
			if (r != nil) != tc.refused {
				t.Fatalf("refused = %v (%v), want %v", r != nil, r, tc.refused)
			}
			if r != nil && (r.Data.Guard != "require_client_filter" || !strings.HasPrefix(r.Msg, protocol.FilterRequiredMsg)) {
				t.Fatalf("refusal %+v %q", r.Data, r.Msg)
			}
			if off := (&guard.Policy{}).Check(tc.agent, "restart", &tc.f); off != nil {
				t.Fatalf("refused with the guard off: %v", off)
			}
		})
	}
}
