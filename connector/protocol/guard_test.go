package protocol

import "testing"

func TestFilterUnfilteredAndNamedTargets(t *testing.T) {
	for _, tc := range []struct {
		name       string
		f          Filter
		agent      string
		unfiltered bool
		named      int
		selects    bool
	}{
		{"zero", Filter{}, "service", true, -1, false},
		{"own agent", NewFilter("service"), "service", true, -1, false},
		{"other agent", Filter{Agent: []string{"puppet"}}, "service", false, -1, false},
		{"unknown selector", Filter{Unknown: []string{"x"}}, "service", false, -1, false},
		{"names", Filter{Identity: []string{"a", "b"}}, "service", false, 2, false},
		{"regex", Filter{Identity: []string{"a", "/b/"}}, "service", false, -1, false},
		{"slash alone is a name", Filter{Identity: []string{"/"}}, "service", false, 1, false},
		{"fact", Filter{Fact: []FactFilter{{Fact: "a", Operator: "==", Value: "b"}}}, "service", false, -1, true},
		{"class", Filter{CFClass: []string{"c"}}, "service", false, -1, true},
		{"compound", Filter{Compound: [][]CompoundEntry{{{Expr: "a"}}}}, "service", false, -1, true},
		{"discovery, one agent", NewFilter("service"), DiscoveryAgent, true, -1, false},
		{"discovery, two agents", Filter{Agent: []string{"a", "b"}}, DiscoveryAgent, false, -1, false},
	} {
		if got := tc.f.Unfiltered(tc.agent); got != tc.unfiltered {
			t.Errorf("%s: Unfiltered = %v", tc.name, got)
		}
		if got := tc.f.NamedTargets(); got != tc.named {
			t.Errorf("%s: NamedTargets = %d", tc.name, got)
		}
		if got := tc.f.Selects(); got != tc.selects {
			t.Errorf("%s: Selects = %v", tc.name, got)
		}
	}
	if !IsGuardRefusal(Aborted, GuardRefusedMsg+": x") || !IsGuardRefusal(Aborted, FilterRequiredMsg) ||
		IsGuardRefusal(Aborted, NotAuthorizedMsg) || IsGuardRefusal(OK, GuardRefusedMsg) {
		t.Error("IsGuardRefusal")
	}
}
