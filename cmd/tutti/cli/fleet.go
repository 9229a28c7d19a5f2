package cli

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tuttifleet/tutti/client"
)

// fleetCall is one action asked of the nodes a selection chose, for the
// verbs built on an rpcutil action (facts, inventory with filters): the
// request half of rpc, without batches or limits.
type fleetCall struct {
	agent, action string
	data          json.RawMessage
	timeout       time.Duration
}

// run discovers the nodes (or takes them from --nodes or exact -I names),
// sends the request and returns the replies gathered in an rpcOutput
// (its results, refused replies and counts; nothing printed) with the
// request's summary. No node to ask is an error with its exit code.
func (fc fleetCall) run(cmd *cobra.Command, g *globals, s *session, sel *selectFlags) (*rpcOutput, *client.BatchSummary, error) {
	filter, err := sel.build()
	if err != nil {
		return nil, nil, exitWith(ExitUsage, err)
	}
	filter.Agent = appendUnique(filter.Agent, fc.agent)
	nodes, dsum, err := sel.nodes(cmd.Context(), g, s, filter)
	if err != nil {
		return nil, nil, err
	}
	refused := refusedFrom(dsum, "discovery")
	if len(nodes) == 0 {
		if len(refused) > 0 {
			for _, r := range refused {
				fmt.Fprintln(g.stderr, "tutti: "+refusedLine(r))
			}
			return nil, nil, exitWith(ExitRefused, fmt.Errorf("no request sent: no node answered the discovery, and %s", refusedSummary(refused)))
		}
		return nil, nil, exitWith(ExitNoReplies, fmt.Errorf("no request sent: no nodes matched the filter"))
	}
	out := newRPCOutput(g.stdout, jsonOutput, fc.agent, fc.action, len(nodes))
	out.addRefused(refused)
	req := client.Request{Agent: fc.agent, Action: fc.action, Data: fc.data, Collective: sel.target,
		Filter: filter, Targets: nodes, Expect: len(nodes), Timeout: fc.timeout}
	sum, err := s.client.DoBatched(cmd.Context(), req, client.Batch{}, out.reply)
	if err != nil {
		return nil, nil, exitWith(ExitFailed, err)
	}
	sortResults(out.results)
	return out, sum, nil
}

// stats are the totals of the request in rpc's --json schema.
func (o *rpcOutput) stats(sum *client.BatchSummary) rpcStats {
	return rpcStats{Nodes: o.nodes, Replies: o.ok + o.failed, OK: o.ok, Failed: o.failed, Busy: len(o.busy), NoReply: len(sum.Missing),
		Refused: len(o.refused), RefusedReasons: refusedReasons(o.refused), Unsigned: sum.Unsigned,
		ElapsedMS: sum.Elapsed.Milliseconds()}
}

// addDiscoveryFlags adds the selection flags of rpc except --nodes FILE
// (facts uses --nodes for another habit): the filters, the discovery
// timeout and the collective.
func (s *selectFlags) addDiscoveryFlags(cmd *cobra.Command) {
	s.filter.add(cmd)
	durationVar(cmd.Flags(), &s.discoveryTimeout, "discovery-timeout", "", 2*time.Second,
		"longest discovery in seconds (also --dt); it ends earlier, "+discoveryIdleGap.String()+" after the last reply")
	addTargetFlag(cmd, &s.target)
}
