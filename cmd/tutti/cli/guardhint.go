package cli

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/tuttifleet/tutti/connector/protocol"
)

// guardNotes counts the replies that were a node's blast-radius guard
// refusing the request (protocol.IsGuardRefusal), so rpc can say how to
// narrow or batch it once, after the replies, instead of leaving the
// user with one "Aborted" per node.
type guardNotes struct {
	// filter counts refusals for want of a filter
	// (plugin.choria.require_client_filter), wide those of a guarded
	// action (plugin.tutti.guard).
	filter, wide int
	rules        []string // the rules that refused, in first-seen order
	maxTargets   int      // the smallest limit a refusal named
	selectors    bool     // some node would take a fact/class filter
}

// note counts r when it is a guard's refusal.
func (g *guardNotes) note(r rpcResult) {
	if !protocol.IsGuardRefusal(r.StatusCode, r.StatusMsg) {
		return
	}
	if strings.HasPrefix(r.StatusMsg, protocol.FilterRequiredMsg) {
		g.filter++
		return
	}
	g.wide++
	var d protocol.GuardRefusal
	if json.Unmarshal(r.Data, &d) != nil {
		return // an older or foreign node: the count and its message stand
	}
	if d.Guard != "" && !slices.Contains(g.rules, d.Guard) {
		g.rules = append(g.rules, d.Guard)
	}
	if d.MaxTargets > 0 && (g.maxTargets == 0 || d.MaxTargets < g.maxTargets) {
		g.maxTargets = d.MaxTargets
	}
	g.selectors = g.selectors || d.Selectors
}

// hint is what rpc prints on stderr after the replies when a guard
// refused the request: the way out. Empty when none did.
func (g *guardNotes) hint(agent, action string) string {
	var b strings.Builder
	if g.filter > 0 {
		fmt.Fprintf(&b, "tutti: %s refused %s#%s: they require a filter (plugin.choria.require_client_filter).\n",
			plural(g.filter, "node", "nodes"), agent, action)
		b.WriteString("  Name the nodes (-I NODE, --nodes FILE) or select them (-F fact=value, -C class, -S expression).\n")
	}
	if g.wide > 0 {
		limit := "a few"
		if g.maxTargets > 0 {
			limit = fmt.Sprint(g.maxTargets)
		}
		fmt.Fprintf(&b, "tutti: %s refused %s#%s with their blast-radius guard (%s): a request may name at most %s nodes",
			plural(g.wide, "node", "nodes"), agent, action, strings.Join(g.rules, ", "), limit)
		if g.selectors {
			b.WriteString(", or select them by fact, class or compound filter")
		}
		b.WriteString(".\n  The way out:\n")
		if g.maxTargets > 0 {
			fmt.Fprintf(&b, "    --batch %d [--batch-sleep 10s]   run it in batches of at most %d nodes\n", g.maxTargets, g.maxTargets)
		} else {
			b.WriteString("    --batch N [--batch-sleep 10s]   run it in small batches\n")
		}
		b.WriteString("    -I NODE (or --nodes FILE)       name fewer nodes\n")
		if g.selectors {
			b.WriteString("    -F fact=value, -C class, -S ... select the nodes by what they are\n")
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}
