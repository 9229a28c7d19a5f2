package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tuttifleet/tutti/agents"
	"github.com/tuttifleet/tutti/client"
	"github.com/tuttifleet/tutti/connector/protocol"
)

type rpcOpts struct {
	filter           filterFlags
	timeout          time.Duration
	discoveryTimeout time.Duration
	ttl              time.Duration
	json             bool
	target           string
}

func newRPCCmd(g *globals) *cobra.Command {
	o := &rpcOpts{}
	cmd := &cobra.Command{
		Use:   "rpc AGENT ACTION [key=value ...]",
		Short: "Run an action of an agent on the matching nodes",
		Long: "rpc discovers the nodes matching the filters (skipped when only exact -I identities are given),\n" +
			"sends each a signed request, and prints one line per reply, failures first, then a summary\n" +
			"naming nodes that were discovered but did not reply.",
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error { return runRPC(cmd, g, o, args) },
	}
	o.filter.add(cmd)
	cmd.Flags().DurationVar(&o.timeout, "timeout", 10*time.Second, "longest time to wait for replies")
	cmd.Flags().DurationVar(&o.discoveryTimeout, "discovery-timeout", 2*time.Second, "longest time to wait for discovery replies")
	cmd.Flags().DurationVar(&o.ttl, "ttl", 0, "request validity (default: the ttl setting, 60s)")
	cmd.Flags().BoolVar(&o.json, "json", false, "print one JSON document")
	cmd.Flags().StringVarP(&o.target, "target", "T", "", "collective to address (default: main_collective)")
	return cmd
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

// rpcResult is one node's reply as printed.
type rpcResult struct {
	Sender       string              `json:"sender"`
	Action       string              `json:"action"`
	StatusCode   protocol.StatusCode `json:"statuscode"`
	StatusMsg    string              `json:"statusmsg"`
	Data         json.RawMessage     `json:"data"`
	Verification client.VerifyState  `json:"verification"`
	RTTms        float64             `json:"rtt_ms"`
	TimeUTC      string              `json:"time_utc"`
}

func runRPC(cmd *cobra.Command, g *globals, o *rpcOpts, args []string) error {
	agent, action := args[0], args[1]
	if !agents.ValidName(agent) {
		return exitWith(ExitUsage, fmt.Errorf("invalid agent name %q", agent))
	}
	data, err := rpcInputs(g, agent, action, args[2:])
	if err != nil {
		return exitWith(ExitUsage, err)
	}
	filter, err := client.BuildFilter(o.filter.o)
	if err != nil {
		return exitWith(ExitUsage, err)
	}
	filter.Agent = appendUnique(filter.Agent, agent)
	s, err := g.connect(cmd)
	if err != nil {
		return err
	}
	defer s.Close()
	targets, ok := o.filter.o.IdentityOnly()
	if !ok {
		targets, _, err = s.client.Discover(cmd.Context(), filter, o.target, o.discoveryTimeout, 300*time.Millisecond)
		if err != nil {
			return exitWith(ExitFailed, fmt.Errorf("discovery: %w", err))
		}
	}
	if len(targets) == 0 {
		return exitWith(ExitNoReplies, fmt.Errorf("no request sent: no nodes matched the filter"))
	}
	sort.Strings(targets)
	var results []rpcResult
	sum, err := s.client.Do(cmd.Context(), client.Request{Agent: agent, Action: action, Data: data, Collective: o.target,
		Filter: protocol.NewFilter(agent), Targets: targets, Expect: len(targets), Timeout: o.timeout, TTL: o.ttl},
		func(r client.Result) { results = append(results, toRPCResult(r, action)) })
	if err != nil {
		return exitWith(ExitFailed, err)
	}
	sortResults(results)
	if o.json {
		err = printRPCJSON(g.stdout, results, sum)
	} else {
		printRPCHuman(g.stdout, results, sum)
	}
	if err != nil {
		return err
	}
	return rpcExit(results, sum)
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func toRPCResult(r client.Result, action string) rpcResult {
	res := rpcResult{Sender: r.Sender, Action: action, Verification: r.State, RTTms: float64(r.RTT.Microseconds()) / 1000,
		TimeUTC: r.Received.UTC().Format(time.RFC3339), Data: json.RawMessage("{}")}
	switch {
	case r.State == client.Failed:
		res.StatusCode, res.StatusMsg = protocol.UnknownError, "reply failed verification: "+errString(r.Err)
	case r.RPC != nil:
		res.StatusCode, res.StatusMsg, res.Data = r.RPC.StatusCode, r.RPC.StatusMsg, r.RPC.Data
	}
	return res
}

func errString(err error) string {
	if err == nil {
		return "unknown error"
	}
	return err.Error()
}

// sortResults puts failures first, then sorts by name.
func sortResults(rs []rpcResult) {
	sort.SliceStable(rs, func(i, j int) bool {
		fi, fj := rs[i].StatusCode != 0 || rs[i].Verification == client.Failed, rs[j].StatusCode != 0 || rs[j].Verification == client.Failed
		if fi != fj {
			return fi
		}
		return rs[i].Sender < rs[j].Sender
	})
}

func printRPCHuman(w io.Writer, rs []rpcResult, sum *client.Summary) {
	for _, r := range rs {
		status := "OK"
		if r.StatusCode != 0 || r.Verification == client.Failed {
			status = r.StatusCode.String() + ": " + r.StatusMsg
		}
		var compact bytes.Buffer
		if json.Compact(&compact, r.Data) != nil {
			compact.Write(r.Data)
		}
		note := ""
		if r.Verification == client.Unsigned {
			note = " (unsigned reply)"
		}
		fmt.Fprintf(w, "%-40s %s%s %s\n", r.Sender, status, note, compact.String())
	}
	ok, failed := 0, 0
	for _, r := range rs {
		if r.StatusCode == 0 && r.Verification != client.Failed {
			ok++
		} else {
			failed++
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Finished processing %d / %d hosts in %s: %d OK, %d failed, %d no reply\n",
		len(rs), len(rs)+len(sum.Missing), sum.Elapsed.Round(time.Millisecond), ok, failed, len(sum.Missing))
	if len(sum.Missing) > 0 {
		fmt.Fprintf(w, "No reply from: %s\n", strings.Join(sum.Missing, ", "))
	}
}

func printRPCJSON(w io.Writer, rs []rpcResult, sum *client.Summary) error {
	if rs == nil {
		rs = []rpcResult{}
	}
	missing := sum.Missing
	if missing == nil {
		missing = []string{}
	}
	doc := map[string]any{"request_id": sum.RequestID, "replies": rs, "no_reply": missing,
		"stats": map[string]any{"replies": len(rs), "failed_verification": sum.Failed, "unsigned": sum.Unsigned,
			"elapsed_ms": sum.Elapsed.Milliseconds()}}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

func rpcExit(rs []rpcResult, sum *client.Summary) error {
	if len(rs) == 0 {
		return exitWith(ExitNoReplies, nil)
	}
	for _, r := range rs {
		if r.StatusCode != 0 || r.Verification == client.Failed {
			return exitWith(ExitFailed, nil)
		}
	}
	if len(sum.Missing) > 0 {
		return exitWith(ExitFailed, nil)
	}
	return nil
}
