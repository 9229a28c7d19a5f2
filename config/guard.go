package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Guard is the node's blast-radius guard (docs/security.md):
// plugin.choria.require_client_filter and plugin.tutti.guard.*.
type Guard struct {
	// RequireFilter: plugin.choria.require_client_filter.
	RequireFilter bool
	// Rules: plugin.tutti.guard, the guarded actions.
	Rules []GuardRule
	// MaxTargets: plugin.tutti.guard.max_targets, the most nodes a
	// request to a guarded action may name.
	MaxTargets int
	// Selectors: plugin.tutti.guard.selectors, whether a fact, class or
	// compound filter also satisfies a rule.
	Selectors bool
}

// GuardRule is one entry of plugin.tutti.guard: AGENT#ACTION,
// AGENT#* (every action of the agent), optionally :N (its own
// max_targets).
type GuardRule struct {
	Agent, Action string
	MaxTargets    int // 0: plugin.tutti.guard.max_targets
}

// defaultGuardMaxTargets mirrors server/guard.DefaultMaxTargets (a test
// in server/daemon keeps the two equal).
const defaultGuardMaxTargets = 10

// guardNameRe is an agent's or action's name (the agents' rule).
var guardNameRe = regexp.MustCompile(`^[a-z0-9_]+$`)

// ParseGuardRule parses one plugin.tutti.guard entry.
func ParseGuardRule(s string) (GuardRule, error) {
	s = strings.TrimSpace(s)
	spec, max, hasMax := strings.Cut(s, ":")
	agent, action, ok := strings.Cut(spec, "#")
	if !ok {
		return GuardRule{}, fmt.Errorf("%q is not AGENT#ACTION[:N] (AGENT#* for every action)", s)
	}
	if !guardNameRe.MatchString(agent) {
		return GuardRule{}, fmt.Errorf("%q: agent %q is not a name (a-z, 0-9, _)", s, agent)
	}
	if action != "*" && !guardNameRe.MatchString(action) {
		return GuardRule{}, fmt.Errorf("%q: action %q is not a name (a-z, 0-9, _) or *", s, action)
	}
	r := GuardRule{Agent: agent, Action: action}
	if hasMax {
		n, err := strconv.Atoi(max)
		if err != nil || n <= 0 {
			return GuardRule{}, fmt.Errorf("%q: %q after ':' is not a positive number of nodes", s, max)
		}
		r.MaxTargets = n
	}
	return r, nil
}

// readGuard reads the guard keys of a node.
func readGuard(r *reader) Guard {
	g := Guard{
		RequireFilter: r.bool("plugin.choria.require_client_filter", false),
		MaxTargets:    r.int("plugin.tutti.guard.max_targets", defaultGuardMaxTargets),
		Selectors:     r.bool("plugin.tutti.guard.selectors", true),
	}
	if g.MaxTargets <= 0 {
		r.invalid("plugin.tutti.guard.max_targets", "must be positive")
		g.MaxTargets = defaultGuardMaxTargets
	}
	seen := map[string]bool{}
	for _, s := range r.list("plugin.tutti.guard", nil) {
		rule, err := ParseGuardRule(s)
		if err != nil {
			r.invalid("plugin.tutti.guard", "%v", err)
			continue
		}
		if key := rule.Agent + "#" + rule.Action; seen[key] {
			r.invalid("plugin.tutti.guard", "%s is listed twice", key)
			continue
		} else {
			seen[key] = true
		}
		g.Rules = append(g.Rules, rule)
	}
	return g
}
