package protocol

import "strings"

// Unfiltered reports whether f selects nodes by nothing but having the
// agent a request is for: no fact, class, identity or compound entry,
// no selector a node does not know, and no agent entry other than agent
// itself (every tutti rpc request carries its own agent in the agent
// filter, so that entry narrows nothing). For the discovery agent, one
// agent entry of any name is still no filter (it is the agent being
// discovered) and two or more are a filter. This is Choria's "empty
// filter" of plugin.choria.require_client_filter, which Choria's client
// checks before sending; tutti's nodes check it too.
//
// A directed request names its targets in its signed identity filter,
// so it is never unfiltered: how many nodes one request may name is the
// guard's business (GuardRefusal), not this one's.
func (f *Filter) Unfiltered(agent string) bool {
	if len(f.Fact) != 0 || len(f.CFClass) != 0 || len(f.Identity) != 0 || len(f.Compound) != 0 || len(f.Unknown) != 0 {
		return false
	}
	if agent == DiscoveryAgent {
		return len(f.Agent) <= 1
	}
	for _, a := range f.Agent {
		if a != agent {
			return false
		}
	}
	return true
}

// Selects reports whether f has a fact, class or compound entry: a
// selection by what nodes are rather than by their names.
func (f *Filter) Selects() bool {
	return len(f.Fact) != 0 || len(f.CFClass) != 0 || len(f.Compound) != 0
}

// NamedTargets is how many nodes f names: the number of its identity
// entries when every one is a plain name, or -1 when one is a /regex/
// (which names no node in particular) or there are none.
func (f *Filter) NamedTargets() int {
	if len(f.Identity) == 0 {
		return -1
	}
	for _, id := range f.Identity {
		if len(id) >= 2 && strings.HasPrefix(id, "/") && strings.HasSuffix(id, "/") {
			return -1
		}
	}
	return len(f.Identity)
}

// Refusals of the node's blast-radius guard (docs/security.md) are
// replies with status Aborted whose message starts with one of these, so
// a client can tell them from an ActionPolicy denial and say how to
// narrow or batch the request. Their data is a GuardRefusal.
const (
	// FilterRequiredMsg starts the reply to a request with no filter on
	// a node with plugin.choria.require_client_filter.
	FilterRequiredMsg = "Refused: this node requires a filter"
	// GuardRefusedMsg starts the reply to a request wider than a guarded
	// action allows (plugin.tutti.guard).
	GuardRefusedMsg = "Refused by this node's blast-radius guard"
)

// GuardRefusal is the data of a guard's refusal reply.
type GuardRefusal struct {
	// Guard is "require_client_filter", or the rule that refused:
	// "agent#action" or "agent#*".
	Guard string `json:"guard"`
	// MaxTargets is the most nodes the request could have named (0 for
	// require_client_filter).
	MaxTargets int `json:"max_targets,omitempty"`
	// Targets is how many nodes the request named (-1: none by name).
	Targets int `json:"targets"`
	// Selectors is true when a fact, class or compound filter would
	// have satisfied the guard instead.
	Selectors bool `json:"selectors"`
}

// IsGuardRefusal reports whether a reply's status message is a guard's
// refusal.
func IsGuardRefusal(code StatusCode, msg string) bool {
	return code == Aborted && (strings.HasPrefix(msg, FilterRequiredMsg) || strings.HasPrefix(msg, GuardRefusedMsg))
}
