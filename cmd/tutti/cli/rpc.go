package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tuttifleet/tutti/agents"
	"github.com/tuttifleet/tutti/agents/ddl"
	"github.com/tuttifleet/tutti/client"
	"github.com/tuttifleet/tutti/connector/protocol"
)

// rpcOpts are the flags of rpc. Verbs that are shortcuts for an rpc
// (tutti service restart NAME …) add the same flags with add and call
// runRPC with the agent, action and inputs.
type rpcOpts struct {
	sel     selectFlags
	req     requestFlags
	out     outputFlags
	rollout rolloutFlags
	force   bool
}

// add registers every flag of rpc on cmd.
func (o *rpcOpts) add(cmd *cobra.Command) {
	o.sel.add(cmd)
	o.req.add(cmd, 10*time.Second, "longest wait for the replies of each batch (default 10s, or the agent DDL's timeout plus 5s when longer)")
	o.out.add(cmd, true)
	o.out.addDisplay(cmd)
	cmd.Flags().BoolVar(&o.force, "force", false, "send the request to an agent whose DDL the client does not know even when its name is close to a known one")
	o.rollout.add(cmd)
	registerFlagCompletions(cmd)
}

func newRPCCmd(g *globals) *cobra.Command {
	o := &rpcOpts{}
	cmd := &cobra.Command{
		Use:     "rpc AGENT ACTION [key=value ...]",
		Aliases: []string{"req"},
		Short:   "Run an action of an agent on the matching nodes",
		Long: "rpc finds the nodes matching the filters — by a broadcast discovery that ends once replies stop,\n" +
			"from --nodes FILE, or straight from exact -I names — then sends each a signed directed request\n" +
			"(in batches with --batch, to a random subset with --limit) and prints each reply as a block\n" +
			"labelled by the agent's DDL, failures first, then the DDL's summaries and the totals, naming\n" +
			"nodes that did not reply. A reply, to the discovery or the request, that is unsigned (while\n" +
			"signed replies are required) or does not verify is refused: listed apart with the sender it\n" +
			"claims and why, never counted as a node, exit 3.",
		Example: "  tutti rpc rpcutil ping -F role=web\n" +
			"  tutti rpc rpcutil get_fact fact=os.family -S 'role=web and not country=uk' --json\n" +
			"  tutti rpc service restart service=nginx --nodes web.txt --batch 5 --batch-sleep 10s\n" +
			"  tutti rpc rpcutil inventory -C role::db --limit 10% --limit-seed 7 --jsonl",
		Args:              usageArgs(cobra.MinimumNArgs(2)),
		RunE:              func(cmd *cobra.Command, args []string) error { return runRPC(cmd, g, o, args) },
		ValidArgsFunction: completeAgents,
	}
	o.add(cmd)
	g.approval.add(cmd)
	// `tutti rpc AGENT [ACTION] --help` adds the agent's DDL to the usage.
	usage := cmd.HelpFunc()
	cmd.SetHelpFunc(func(c *cobra.Command, args []string) {
		usage(c, args)
		agent, action := helpTarget(args)
		if agent == "" {
			return
		}
		d, source, err := findDDL(g, agent)
		if err != nil {
			fmt.Fprintf(c.OutOrStdout(), "\n%v\n", err)
			return
		}
		if _, ok := d.Action(action); !ok {
			action = ""
		}
		fmt.Fprintln(c.OutOrStdout())
		writeDoc(c.OutOrStdout(), d, source, action)
	})
	return cmd
}

// helpTarget picks AGENT and ACTION out of the arguments cobra hands the
// help function (the command line without its flags, from "rpc" on).
func helpTarget(args []string) (agent, action string) {
	var pos []string
	for _, a := range args {
		if !strings.HasPrefix(a, "-") && a != "rpc" {
			pos = append(pos, a)
		}
	}
	if len(pos) > 0 {
		agent = pos[0]
	}
	if len(pos) > 1 {
		action = pos[1]
	}
	return agent, action
}

// parseInputs turns key=value arguments into the data object. Values
// that are JSON numbers, booleans, arrays or objects are sent typed;
// anything else is a string.
func parseInputs(args []string) (json.RawMessage, error) {
	data := map[string]any{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("input %q is not key=value", a)
		}
		var typed any
		if err := json.Unmarshal([]byte(v), &typed); err == nil && !isString(typed) {
			data[k] = typed
		} else {
			data[k] = v
		}
	}
	return json.Marshal(data)
}

func isString(v any) bool { _, ok := v.(string); return ok }

func runRPC(cmd *cobra.Command, g *globals, o *rpcOpts, args []string) error {
	agent, action := args[0], args[1]
	if !agents.ValidName(agent) {
		return exitWith(ExitUsage, fmt.Errorf("invalid agent name %q", agent))
	}
	data, agentDDL, err := rpcInputs(g, agent, action, args[2:], o.force)
	if err != nil {
		return exitWith(ExitUsage, err)
	}
	if !cmd.Flags().Changed("timeout") {
		o.req.timeout = ddlTimeout(o.req.timeout, agentDDL)
	}
	filter, err := o.sel.build()
	if err != nil {
		return exitWith(ExitUsage, err)
	}
	filter.Agent = appendUnique(filter.Agent, agent)
	if err := errors.Join(o.req.check(), o.out.check()); err != nil {
		return exitWith(ExitUsage, err)
	}
	limit, err := o.rollout.parse()
	if err != nil {
		return exitWith(ExitUsage, err)
	}
	s, err := g.connect(cmd)
	if err != nil {
		return err
	}
	defer s.Close()
	nodes, dsum, err := o.sel.nodes(cmd.Context(), g, s, filter)
	if err != nil {
		return err
	}
	refused := refusedFrom(dsum, protocol.DiscoveryAgent)
	if len(nodes) == 0 {
		if len(refused) > 0 {
			for _, r := range refused {
				fmt.Fprintln(g.stderr, "tutti: "+refusedLine(r))
			}
			return exitWith(ExitRefused, fmt.Errorf("no request sent: no node answered the discovery, and %s", refusedSummary(refused)))
		}
		return exitWith(ExitNoReplies, o.sel.noNodes(agent))
	}
	targets, note := o.rollout.apply(limit, nodes)
	out := newRPCOutput(g.stdout, o.out.mode(), agent, action, len(targets))
	out.limit = note
	out.ddl = agentDDL // for aggregates; nil without a DDL
	out.shows = o.out.shows
	out.addRefused(refused)
	if o.out.mode() != jsonlOutput {
		out.bar = newProgress(g.stdout, g.stderr, o.out.noProgress, len(targets), agent+"#"+action)
	}
	// The user's filter travels in every signed request, its identity
	// patterns replaced by each chunk's targets: a node re-checks the
	// selection, and a copy sent to any other node is filtered out.
	req := client.Request{Agent: agent, Action: action, Data: data, Collective: o.sel.target,
		Filter: filter, Targets: targets, Expect: len(targets), Timeout: o.req.timeout, TTL: o.req.ttl}
	batch := client.Batch{Size: o.rollout.batch, Sleep: o.rollout.batchSleep, OnBatch: func(i, n int, t []string) {
		s.log.Debugf("batch %d of %d: %s", i+1, n, strings.Join(t, ", "))
	}}
	sum, err := s.client.DoBatched(cmd.Context(), req, batch, out.reply)
	if sum == nil {
		out.bar.done()
		return exitWith(failCode(err), err)
	}
	if werr := out.finish(sum); werr != nil {
		return exitWith(ExitFailed, werr)
	}
	if h := out.guard.hint(agent, action); h != "" {
		fmt.Fprintln(g.stderr, h)
	}
	if err != nil {
		return exitWith(failCode(err), err)
	}
	return out.exit(sum)
}

// ddlTimeoutMargin is what the wait adds to an agent's DDL timeout: the
// request's way to the nodes and the replies' way back.
const ddlTimeoutMargin = 5 * time.Second

// ddlTimeout is the wait for replies when --timeout is not given: the
// default, or the agent DDL's metadata timeout (how long its actions may
// run on a node) plus ddlTimeoutMargin when that is longer, as Choria's
// and mco's clients do. A package install (180 s) is then waited for
// instead of being reported as not responding after 10 s.
func ddlTimeout(def time.Duration, d *ddl.DDL) time.Duration {
	if d == nil || d.Timeout() <= 0 {
		return def
	}
	return max(def, d.Timeout()+ddlTimeoutMargin)
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}
