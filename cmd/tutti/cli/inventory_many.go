package cli

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tuttifleet/tutti/client"
	"github.com/tuttifleet/tutti/connector/protocol"
)

// checkIdentity makes sure node is some node's identity before inventory
// waits for its replies: a discovery for the identity and the names it
// starts (node1 for node1.example.net) ends once replies stop. A short
// name is an error at once, naming the identities it could mean. It
// returns the replies the discovery refused (reported on stderr).
func checkIdentity(cmd *cobra.Command, g *globals, s *session, sel *selectFlags, node string, timeout time.Duration) ([]refusedReply, error) {
	f, err := client.BuildFilter(client.FilterOptions{Identity: []string{"/^" + regexp.QuoteMeta(node) + `(\.|$)/`}, Agent: []string{"rpcutil"}})
	if err != nil {
		return nil, exitWith(ExitUsage, fmt.Errorf("node %q: %w", node, err))
	}
	wait := min(sel.discoveryTimeout, timeout)
	found, sum, err := s.client.Discover(cmd.Context(), f, sel.target, wait, discoveryIdleGap)
	if err != nil {
		return nil, exitWith(ExitFailed, fmt.Errorf("discovery: %w", err))
	}
	refused := refusedFrom(sum, "discovery")
	for _, r := range refused {
		fmt.Fprintln(g.stderr, "tutti: "+refusedLine(r))
	}
	switch {
	case slices.Contains(found, node):
		return refused, nil
	case len(found) > 0:
		slices.Sort(found)
		return nil, exitWith(ExitUsage, fmt.Errorf("no node is named %s; did you mean %s? (NODE is a full identity)", node, strings.Join(found, " or ")))
	case len(refused) > 0:
		return nil, exitWith(ExitRefused, fmt.Errorf("no node named %s answered the discovery, and %s", node, refusedSummary(refused)))
	}
	return nil, exitWith(ExitNoReplies, fmt.Errorf("%s did not answer the discovery within %s: no node has that identity, or it is down or on another collective", node, wait))
}

// runInventoryMany is inventory without NODE: every node the selection
// chooses, one inventory after the other, then the totals.
func runInventoryMany(cmd *cobra.Command, g *globals, o *inventoryOpts) error {
	s, err := g.connect(cmd)
	if err != nil {
		return err
	}
	defer s.Close()
	out, sum, err := fleetCall{agent: "rpcutil", action: "inventory", timeout: o.timeout}.run(cmd, g, s, &o.sel)
	if err != nil {
		return err
	}
	invs := map[string]*nodeInventory{}
	var answered []string
	for _, r := range out.results {
		if r.failed() {
			continue
		}
		inv := &nodeInventory{Identity: r.Sender, Stats: map[string]any{}}
		if err := json.Unmarshal(r.Data, inv); err != nil {
			return exitWith(ExitFailed, fmt.Errorf("rpcutil#inventory reply from %s: %w", r.Sender, err))
		}
		inv.Identity = r.Sender
		invs[r.Sender] = inv
		answered = append(answered, r.Sender)
	}
	if len(answered) > 0 {
		stats := selectFlags{target: o.sel.target, filter: filterFlags{client.FilterOptions{Identity: answered}}}
		sout, _, err := fleetCall{agent: "rpcutil", action: "daemon_stats", timeout: o.timeout}.run(cmd, g, s, &stats)
		if err != nil {
			return err
		}
		for _, r := range sout.results {
			if inv := invs[r.Sender]; inv != nil && r.StatusCode == protocol.OK {
				_ = json.Unmarshal(r.Data, &inv.Stats) // no statistics: printed empty
			}
		}
		out.addRefused(sout.refused)
	}
	list := make([]*nodeInventory, 0, len(answered))
	for _, n := range answered {
		list = append(list, invs[n])
	}
	if o.json {
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(list); err != nil {
			return exitWith(ExitFailed, err)
		}
	} else {
		for _, inv := range list {
			printInventory(g.stdout, inv)
		}
		out.mode = humanOutput
		out.results = slices.DeleteFunc(out.results, func(r rpcResult) bool { return !r.failed() })
		if err := out.printHuman(sum); err != nil {
			return exitWith(ExitFailed, err)
		}
	}
	if o.json && len(out.refused) > 0 {
		return exitWith(ExitRefused, fmt.Errorf("%s", refusedSummary(out.refused)))
	}
	return out.exit(sum)
}
