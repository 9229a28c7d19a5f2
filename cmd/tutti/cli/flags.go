package cli

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tuttifleet/tutti/client"
	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/connector/protocol"
)

// discoveryIdleGap ends a discovery this long after the last reply
// (Choria's windowed timeout); --discovery-timeout bounds the whole wait.
const discoveryIdleGap = 300 * time.Millisecond

// selectFlags choose the nodes: filters, then discovery or a nodes file.
// rpc and discover share them.
type selectFlags struct {
	filter           filterFlags
	discoveryTimeout time.Duration
	nodesFile        string
	target           string
}

func (s *selectFlags) add(cmd *cobra.Command) {
	s.filter.add(cmd)
	fl := cmd.Flags()
	durationVar(fl, &s.discoveryTimeout, "discovery-timeout", "", 2*time.Second,
		"longest discovery in seconds (also --dt); it ends earlier, "+discoveryIdleGap.String()+" after the last reply")
	fl.StringVar(&s.nodesFile, "nodes", "", "read the nodes from `FILE` (one per line, # comments; - for stdin) instead of discovering them")
	addTargetFlag(cmd, &s.target)
}

func addTargetFlag(cmd *cobra.Command, target *string) {
	cmd.Flags().StringVarP(target, "target", "T", "", "`collective` to address (default: main_collective)")
}

// build validates the filters. With --nodes only -I may narrow the list:
// the other filters are matched by nodes during discovery, which a nodes
// file skips.
func (s *selectFlags) build() (protocol.Filter, error) {
	f, err := client.BuildFilter(s.filter.o)
	if err != nil {
		return f, err
	}
	if s.nodesFile != "" {
		o := s.filter.o
		if len(o.Class)+len(o.Fact)+len(o.Agent)+len(o.Select)+len(o.With) > 0 {
			return f, fmt.Errorf("--nodes cannot be combined with -C, -F, -A, -S or -W: nodes match those during discovery, which --nodes skips; -I may narrow the list")
		}
	}
	return f, nil
}

// discovers reports whether nodes will need a discovery round.
func (s *selectFlags) discovers() bool {
	_, identityOnly := s.filter.o.IdentityOnly()
	return s.nodesFile == "" && !identityOnly
}

// nodes returns the nodes to address and, when a discovery round found
// them, its summary (with the replies it refused: they name no node).
// Without discovery they come from --nodes (narrowed by -I) or from
// exact -I names; otherwise a broadcast discovery with filter collects
// the nodes that answer, ending discoveryIdleGap after the last reply or
// at --discovery-timeout.
func (s *selectFlags) nodes(ctx context.Context, g *globals, sess *session, filter protocol.Filter) ([]string, *client.Summary, error) {
	if s.nodesFile != "" {
		list, err := client.ReadNodesFile(s.nodesFile, g.stdin)
		if err != nil {
			return nil, nil, exitWith(ExitUsage, err)
		}
		if list, err = client.SelectIdentities(list, s.filter.o.Identity); err != nil {
			return nil, nil, exitWith(ExitUsage, err)
		}
		return list, nil, nil
	}
	if names, ok := s.filter.o.IdentityOnly(); ok {
		return names, nil, nil
	}
	if sess == nil {
		return nil, nil, fmt.Errorf("discovery needs a broker connection")
	}
	if s.discoveryTimeout <= 0 {
		return nil, nil, exitWith(ExitUsage, fmt.Errorf("--discovery-timeout must be positive"))
	}
	warnMixed(g, sess, s.filter.o)
	found, sum, err := sess.client.Discover(ctx, filter, s.target, s.discoveryTimeout, discoveryIdleGap)
	if err != nil {
		return nil, nil, exitWith(ExitFailed, fmt.Errorf("discovery: %w", err))
	}
	return found, sum, nil
}

// noNodes explains an empty node list: an empty nodes file, -I
// narrowing it to nothing, a filter no node matched, or (no filter
// given) no node with the agent answering the discovery at all.
func (s *selectFlags) noNodes(agent string) error {
	switch {
	case s.nodesFile != "" && s.filter.given():
		return fmt.Errorf("no request sent: no node of %s matched -I", s.nodesFile)
	case s.nodesFile != "":
		return fmt.Errorf("no request sent: %s lists no nodes", s.nodesFile)
	case s.filter.given():
		return fmt.Errorf("no request sent: no nodes matched the filter (discovery waited up to %s)", s.discoveryTimeout)
	}
	return fmt.Errorf("no request sent: %w", noAnswer("discovery", s.target, agent))
}

// usageArgsAll wraps the argument check of cmd and every command under
// it with usageArgs, so that a wrong number of arguments exits 64 in
// every verb, whichever way the verb checks them.
func usageArgsAll(cmd *cobra.Command) {
	if cmd.Args != nil {
		cmd.Args = usageArgs(cmd.Args)
	}
	for _, c := range cmd.Commands() {
		usageArgsAll(c)
	}
}

// usageArgs makes an argument count error a usage error (exit 64).
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return exitWith(ExitUsage, err)
		}
		return nil
	}
}

// outputFlags choose how results are printed.
type outputFlags struct {
	json, jsonl, noProgress bool
	display                 string // rpc: which replies human output lists
}

func (o *outputFlags) add(cmd *cobra.Command, progress bool) {
	fl := cmd.Flags()
	fl.BoolVarP(&o.json, "json", "j", false, "print one JSON document at the end")
	fl.BoolVar(&o.jsonl, "jsonl", false, "print one JSON object per line as replies arrive, then a summary line")
	if progress {
		fl.BoolVar(&o.noProgress, "no-progress", false, "no progress bar (there is none when stdout is not a terminal; also --np)")
	}
}

// addDisplay adds --display, which replies the human output lists (the
// summary always counts them all; --json and --jsonl keep every reply).
func (o *outputFlags) addDisplay(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.display, "display", "all", "which replies the human output lists: `ok|failed|all|none` (the totals count all)")
}

func (o *outputFlags) check() error {
	if o.json && o.jsonl {
		return fmt.Errorf("--json and --jsonl cannot be combined")
	}
	switch o.display {
	case "", "all", "ok", "failed", "none":
	default:
		return fmt.Errorf("--display %q: use ok, failed, all or none", o.display)
	}
	return nil
}

// shows reports whether --display lists a reply that failed or not.
func (o *outputFlags) shows(failed bool) bool {
	switch o.display {
	case "ok":
		return !failed
	case "failed":
		return failed
	case "none":
		return false
	}
	return true
}

// flagAliases are the other names operators bring from Choria and mco
// for a flag (docs/cli.md, "Flags from Choria and mco"). pflag has no
// multi-letter short flags, so they are long names normalised to the
// flag's own: --dt is --discovery-timeout, --wf is -F. They are not
// listed in the usage text, whose flag descriptions name them.
var flagAliases = map[string]string{
	"dt": "discovery-timeout", "np": "no-progress",
	"wf": "fact", "with-fact": "fact", "wc": "class", "with-class": "class",
	"wa": "agent", "with-agent": "agent", "wi": "identity", "with-identity": "identity",
}

// normaliseFlag maps an alias to its flag's name (cobra's global
// normalisation function).
func normaliseFlag(_ *pflag.FlagSet, name string) pflag.NormalizedName {
	if to, ok := flagAliases[name]; ok {
		return pflag.NormalizedName(to)
	}
	return pflag.NormalizedName(name)
}

// flagHint adds the fix to a flag error for an alias typed with one dash:
// pflag reads -dt as -d -t.
func flagHint(err error) error {
	msg := err.Error()
	i := strings.LastIndex(msg, " in -")
	if i < 0 {
		return err
	}
	typed := strings.TrimPrefix(msg[i+len(" in "):], "-")
	if name, _, _ := strings.Cut(typed, "="); flagAliases[name] != "" {
		return fmt.Errorf("%w (multi-letter flags take two dashes: --%s)", err, name)
	}
	return err
}

// requestFlags bound a request in time.
type requestFlags struct {
	timeout, ttl time.Duration
}

func (r *requestFlags) add(cmd *cobra.Command, timeout time.Duration, what string) {
	durationVar(cmd.Flags(), &r.timeout, "timeout", "t", timeout, what)
	durationVar(cmd.Flags(), &r.ttl, "ttl", "", 0, "how long the request stays valid for nodes (default: the ttl setting, 60s)")
}

func (r *requestFlags) check() error {
	if r.timeout <= 0 {
		return fmt.Errorf("--timeout must be positive")
	}
	if r.ttl < 0 || (r.ttl > 0 && r.ttl < time.Second) {
		return fmt.Errorf("--ttl must be at least 1s")
	}
	return nil
}

// rolloutFlags spread a request over the nodes.
type rolloutFlags struct {
	batch      int
	batchSleep time.Duration
	limit      string
	limitSeed  uint64
}

func (r *rolloutFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.IntVar(&r.batch, "batch", 0, "send to `N` nodes at a time, waiting for their replies (or --timeout) before the next batch")
	durationVar(fl, &r.batchSleep, "batch-sleep", "", 0, "pause between batches")
	fl.StringVar(&r.limit, "limit", "", "address only a random subset of the nodes: `N` nodes or N% of them")
	fl.Uint64Var(&r.limitSeed, "limit-seed", 0, "seed for --limit's choice: the same seed over the same nodes picks the same subset")
}

// apply returns the nodes to address, sorted and without duplicates:
// all of them, or with a limit a random subset and a note of the choice.
// Without --limit-seed a random seed is drawn and noted, so the choice can
// be repeated.
func (r *rolloutFlags) apply(l client.Limit, nodes []string) ([]string, *limitNote) {
	if l == (client.Limit{}) {
		return slices.Compact(slices.Sorted(slices.Values(nodes))), nil
	}
	seed := r.limitSeed
	for seed == 0 {
		seed = rand.Uint64()
	}
	return l.Apply(nodes, seed), &limitNote{Limit: l.String(), Of: len(slices.Compact(slices.Sorted(slices.Values(nodes)))), Seed: seed}
}

func (r *rolloutFlags) parse() (client.Limit, error) {
	if r.batch < 0 {
		return client.Limit{}, fmt.Errorf("--batch must be 0 (no batches) or positive")
	}
	if r.batchSleep < 0 {
		return client.Limit{}, fmt.Errorf("--batch-sleep must not be negative")
	}
	if r.batchSleep > 0 && r.batch == 0 {
		return client.Limit{}, fmt.Errorf("--batch-sleep needs --batch")
	}
	l, err := client.ParseLimit(r.limit)
	if err != nil {
		return l, fmt.Errorf("--limit: %w", err)
	}
	if r.limitSeed != 0 && r.limit == "" {
		return l, fmt.Errorf("--limit-seed needs --limit")
	}
	return l, nil
}

// warnMixed prints on stderr, in a fleet configured as mixed, each part
// of the selection Choria's nodes evaluate differently from tutti's.
func warnMixed(g *globals, sess *session, o client.FilterOptions) {
	if sess.cfg == nil || !mixedFleet(&sess.cfg.Security) {
		return
	}
	for _, w := range client.ChoriaWarnings(o) {
		fmt.Fprintf(g.stderr, "tutti: warning: %s (mixed fleet: Choria nodes will not select themselves as tutti nodes do)\n", w)
	}
}

// mixedFleet reports whether the client is configured for a fleet with
// Choria servers: plugin.tutti.choria_servers = true, or
// plugin.tutti.require_signed_replies = false (only Choria servers send
// unsigned replies). Filters Choria's nodes evaluate differently are
// then warned about (docs/cli.md).
func mixedFleet(s *config.Security) bool {
	return s.ChoriaServers || !s.RequireSignedReplies
}
