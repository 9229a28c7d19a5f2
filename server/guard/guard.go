// Package guard is the node's blast-radius guard: how wide a request may
// be before the node refuses to run it. It looks only at the request's
// filter, which is inside the signed request: rewriting it breaks the
// signature, so the guard cannot be bypassed on the way to the node.
//
// Two checks, both configured on the node (docs/security.md):
//
//   - RequireFilter (plugin.choria.require_client_filter): a request
//     whose filter selects by nothing but its own agent
//     (protocol.Filter.Unfiltered) is refused.
//   - Rules (plugin.tutti.guard): a guarded agent#action runs only for a
//     request that names its targets (plain identities, no /regex/) and
//     names at most MaxTargets of them, or, when Selectors is set, that
//     carries a fact, class or compound filter. A directed request from
//     tutti rpc names exactly its chunk's nodes, so --batch N and -I
//     NODE satisfy the guard; a wide broadcast does not.
package guard

import (
	"fmt"
	"strings"

	"github.com/tuttifleet/tutti/connector/protocol"
)

// DefaultMaxTargets is the most nodes a request to a guarded action may
// name when neither the rule nor plugin.tutti.guard.max_targets says.
const DefaultMaxTargets = 10

// Rule guards one action of an agent, or all of its actions (Action "*").
type Rule struct {
	Agent, Action string
	// MaxTargets overrides Policy.MaxTargets when positive.
	MaxTargets int
}

func (r Rule) String() string { return r.Agent + "#" + r.Action }

// Policy is a node's guard. The zero value guards nothing.
type Policy struct {
	// RequireFilter refuses requests with no filter.
	RequireFilter bool
	// Rules are the guarded actions.
	Rules []Rule
	// MaxTargets is the most nodes a guarded request may name
	// (0: DefaultMaxTargets).
	MaxTargets int
	// Selectors lets a fact, class or compound filter satisfy a rule.
	Selectors bool
}

// Refusal is why the guard refused a request: the reply's status
// message (Msg) and data (Data).
type Refusal struct {
	Msg  string
	Data protocol.GuardRefusal
}

func (r *Refusal) Error() string { return r.Msg }

// Rule returns the rule guarding agent#action: the one naming the
// action, else the agent's "*" rule.
func (p *Policy) Rule(agent, action string) (Rule, bool) {
	var wild *Rule
	for i := range p.Rules {
		r := &p.Rules[i]
		if r.Agent != agent {
			continue
		}
		if r.Action == action {
			return *r, true
		}
		if r.Action == "*" && wild == nil {
			wild = r
		}
	}
	if wild != nil {
		return *wild, true
	}
	return Rule{}, false
}

// CheckFilter applies RequireFilter to a request for agent (the
// discovery agent included).
func (p *Policy) CheckFilter(agent string, f *protocol.Filter) *Refusal {
	if !p.RequireFilter || !f.Unfiltered(agent) {
		return nil
	}
	return &Refusal{
		Msg: protocol.FilterRequiredMsg + " (plugin.choria.require_client_filter) and this request selects every node with agent " +
			agent + ": name the nodes (-I NODE, --nodes FILE) or select them (-F fact=value, -C class, -S expression)",
		Data: protocol.GuardRefusal{Guard: "require_client_filter", Targets: -1, Selectors: true},
	}
}

// Check applies RequireFilter and the rule guarding agent#action to a
// request with filter f; nil lets it run.
func (p *Policy) Check(agent, action string, f *protocol.Filter) *Refusal {
	if r := p.CheckFilter(agent, f); r != nil {
		return r
	}
	rule, ok := p.Rule(agent, action)
	if !ok {
		return nil
	}
	limit := p.limit(rule)
	named := f.NamedTargets()
	if named > 0 && named <= limit {
		return nil
	}
	if p.Selectors && f.Selects() {
		return nil
	}
	return &Refusal{Msg: refusalMsg(agent, action, rule, limit, named, p.Selectors),
		Data: protocol.GuardRefusal{Guard: rule.String(), MaxTargets: limit, Targets: named, Selectors: p.Selectors}}
}

func (p *Policy) limit(r Rule) int {
	switch {
	case r.MaxTargets > 0:
		return r.MaxTargets
	case p.MaxTargets > 0:
		return p.MaxTargets
	}
	return DefaultMaxTargets
}

// refusalMsg says what the rule allows, what the request was, and how to
// narrow or batch it.
func refusalMsg(agent, action string, r Rule, limit, named int, selectors bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s#%s runs only for a request that names at most %d nodes", protocol.GuardRefusedMsg, agent, action, limit)
	if selectors {
		b.WriteString(" or selects them by fact, class or compound filter")
	}
	if r.Action == "*" {
		fmt.Fprintf(&b, " (rule %s)", r)
	}
	if named > 0 {
		fmt.Fprintf(&b, "; this one names %d", named)
	} else {
		b.WriteString("; this one names none")
	}
	fmt.Fprintf(&b, ". Run it in batches (tutti rpc --batch %d) or narrow it (-I NODE", limit)
	if selectors {
		b.WriteString(", -F fact=value, -C class")
	}
	b.WriteString(")")
	return b.String()
}
