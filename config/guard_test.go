package config

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/tuttifleet/tutti/server/guard"
)

func TestParseGuardRule(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want GuardRule
		err  string
	}{
		{"service#restart", GuardRule{Agent: "service", Action: "restart"}, ""},
		{" service#restart:5 ", GuardRule{Agent: "service", Action: "restart", MaxTargets: 5}, ""},
		{"puppet#*", GuardRule{Agent: "puppet", Action: "*"}, ""},
		{"puppet#*:20", GuardRule{Agent: "puppet", Action: "*", MaxTargets: 20}, ""},
		{"service", GuardRule{}, "not AGENT#ACTION"},
		{"Service#restart", GuardRule{}, "agent"},
		{"*#restart", GuardRule{}, "agent"},
		{"service#re-start", GuardRule{}, "action"},
		{"service#", GuardRule{}, "action"},
		{"service#restart:0", GuardRule{}, "positive"},
		{"service#restart:-1", GuardRule{}, "positive"},
		{"service#restart:x", GuardRule{}, "positive"},
		{"service#restart:", GuardRule{}, "positive"},
	} {
		got, err := ParseGuardRule(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want one about %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func serverFrom(t *testing.T, text string) (*Server, error) {
	t.Helper()
	clearEnv(t)
	return ServerFrom(mustParse(t, "identity = node1.example.net\n"+text))
}

func TestServerGuard(t *testing.T) {
	s, err := serverFrom(t, "")
	if err != nil {
		t.Fatal(err)
	}
	if s.Guard.RequireFilter || len(s.Guard.Rules) != 0 || s.Guard.MaxTargets != guard.DefaultMaxTargets || !s.Guard.Selectors {
		t.Fatalf("default guard %+v", s.Guard)
	}
	s, err = serverFrom(t, "plugin.choria.require_client_filter = yes\nplugin.tutti.guard = service#restart, puppet#*:50\n"+
		"plugin.tutti.guard.max_targets = 5\nplugin.tutti.guard.selectors = false\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []GuardRule{{Agent: "service", Action: "restart"}, {Agent: "puppet", Action: "*", MaxTargets: 50}}
	g := s.Guard
	if !g.RequireFilter || g.MaxTargets != 5 || g.Selectors || len(g.Rules) != 2 || g.Rules[0] != want[0] || g.Rules[1] != want[1] {
		t.Fatalf("guard %+v", g)
	}
	for _, bad := range []string{
		"plugin.tutti.guard = service\n",
		"plugin.tutti.guard = service#restart, service#restart:3\n",
		"plugin.tutti.guard.max_targets = 0\n",
	} {
		if _, err := serverFrom(t, bad); !errors.Is(err, ErrInvalidValue) {
			t.Errorf("%q: err %v, want an invalid value", bad, err)
		}
	}
}

// FuzzParseGuardRule: never panics; what it accepts has names of the
// agents' rule and a positive or no maximum, and prints back to itself.
func FuzzParseGuardRule(f *testing.F) {
	for _, s := range []string{"service#restart", "puppet#*:20", "a#b:0", "#", ":", "a#b:c:d", "a##b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseGuardRule(s)
		if err != nil {
			return
		}
		if !guardNameRe.MatchString(r.Agent) || (r.Action != "*" && !guardNameRe.MatchString(r.Action)) || r.MaxTargets < 0 {
			t.Fatalf("%q accepted as %+v", s, r)
		}
		back := r.Agent + "#" + r.Action
		if r.MaxTargets > 0 {
			back += ":" + strconv.Itoa(r.MaxTargets)
		}
		if again, err := ParseGuardRule(back); err != nil || again != r {
			t.Fatalf("%q → %+v → %q → %+v, %v", s, r, back, again, err)
		}
	})
}
