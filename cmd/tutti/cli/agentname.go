package cli

import (
	"fmt"

	"github.com/tuttifleet/tutti/config"
)

// knownAgentNames are the names of the agents whose DDL the client has
// (knownAgents), for did-you-mean suggestions.
func knownAgentNames(g *globals) []string {
	list, _, _ := knownAgents(g)
	names := make([]string, len(list))
	for i, a := range list {
		names[i] = a.Name
	}
	return names
}

// nearestName is the name in known closest to name by edit distance, or
// "" when none is close enough to be a typing slip (at most 2 edits, and
// fewer than half the name's letters).
func nearestName(name string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := config.EditDistance(name, k, bestD); d < bestD && d*2 < len(name) {
			best, bestD = k, d
		}
	}
	return best
}

// unknownAgent decides about an agent whose DDL the client does not have
// (noDDL is findDDL's error, naming what was searched). A name a typing
// slip away from a known agent is refused ("did you mean rpcutil?")
// unless force is set; otherwise the request goes ahead, saying so on
// stderr: a custom agent's DDL need not be on the client.
func unknownAgent(g *globals, agent string, noDDL error, force bool) error {
	if near := nearestName(agent, knownAgentNames(g)); near != "" && !force {
		return fmt.Errorf("unknown agent %q: did you mean %s? (%v; --force sends the request anyway)", agent, near, noDDL)
	}
	fmt.Fprintf(g.stderr, "tutti: %v: sending the request without checking its inputs; nodes without the agent do not answer\n", noDDL)
	return nil
}
