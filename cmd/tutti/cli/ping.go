package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/tuttifleet/tutti/client"
	"github.com/tuttifleet/tutti/connector/protocol"
)

type pingOpts struct {
	filter filterFlags
	req    requestFlags
	out    outputFlags
	idle   time.Duration
	expect int
	target string
}

func newPingCmd(g *globals) *cobra.Command {
	o := &pingOpts{}
	cmd := &cobra.Command{
		Use:   "ping",
		Short: "Find the nodes that answer, with their round-trip times",
		Long: "ping broadcasts a discovery ping and prints one line per node that answered, then a summary.\n" +
			"It ends as soon as replies stop arriving (--idle-gap after the last one), at --expect replies,\n" +
			"or at --timeout, whichever comes first. A reply that is unsigned (while signed replies are\n" +
			"required) or does not verify is refused: shown as such, never listed as a node, exit 3.",
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runPing(cmd, g, o) },
	}
	o.filter.add(cmd)
	o.req.add(cmd, 5*time.Second, "longest time to wait for replies")
	o.out.add(cmd, false)
	durationVar(cmd.Flags(), &o.idle, "idle-gap", "", 500*time.Millisecond, "stop this long after the last reply")
	cmd.Flags().IntVar(&o.expect, "expect", 0, "stop after this many replies")
	addTargetFlag(cmd, &o.target)
	registerFlagCompletions(cmd)
	return cmd
}

// pingReply is a node that answered: its reply verified, or was accepted
// unsigned.
type pingReply struct {
	Sender string             `json:"sender"`
	RTTms  float64            `json:"rtt_ms"`
	State  client.VerifyState `json:"verification"`
}

// pingLine is a --jsonl reply line.
type pingLine struct {
	Type string `json:"type"`
	pingReply
}

// refusedJSONLine is a --jsonl line for a refused reply.
type refusedJSONLine struct {
	Type string `json:"type"` // "refused"
	refusedReply
}

func runPing(cmd *cobra.Command, g *globals, o *pingOpts) error {
	filter, err := client.BuildFilter(o.filter.o)
	if err != nil {
		return exitWith(ExitUsage, err)
	}
	if err := errors.Join(o.req.check(), o.out.check()); err != nil {
		return exitWith(ExitUsage, err)
	}
	if o.expect < 0 || o.idle < 0 {
		return exitWith(ExitUsage, fmt.Errorf("--expect and --idle-gap must not be negative"))
	}
	s, err := g.connect(cmd)
	if err != nil {
		return err
	}
	defer s.Close()
	warnMixed(g, s, o.filter.o)
	var replies []pingReply
	var refused []refusedReply
	// denials are nodes that verified the request and refused it with a
	// status (a revoked certificate: "certificate revoked: …")
	var denials []string
	out := g.stdout
	mode := o.out.mode()
	enc := json.NewEncoder(out)
	var werr error
	sum, err := s.client.Do(cmd.Context(), client.Request{Discovery: true, Filter: filter, Collective: o.target,
		Timeout: o.req.timeout, TTL: o.req.ttl, IdleGap: o.idle, Expect: o.expect}, func(r client.Result) {
		if r.State == client.Failed {
			rr := toRefused(r, "")
			refused = append(refused, rr)
			switch mode {
			case humanOutput:
				fmt.Fprintln(out, refusedLine(rr))
			case jsonlOutput:
				if werr == nil {
					werr = enc.Encode(refusedJSONLine{"refused", rr})
				}
			}
			return
		}
		if r.RPC != nil && r.RPC.StatusCode != protocol.OK {
			d := r.Sender + ": " + r.RPC.StatusCode.String() + ": " + r.RPC.StatusMsg
			denials = append(denials, d)
			if mode == humanOutput {
				fmt.Fprintln(out, "refused by "+d)
			}
			return
		}
		pr := pingReply{Sender: r.Sender, RTTms: float64(r.RTT.Microseconds()) / 1000, State: r.State}
		replies = append(replies, pr)
		switch mode {
		case humanOutput:
			printPingLine(out, pr)
		case jsonlOutput:
			if werr == nil {
				werr = enc.Encode(pingLine{"reply", pr})
			}
		}
	})
	if err != nil {
		return exitWith(ExitFailed, err)
	}
	ids := nonNil(nil)
	if sum.RequestID != "" {
		ids = []string{sum.RequestID}
	}
	// The same names as rpc's --json and --jsonl (docs/cli.md).
	switch mode {
	case jsonOutput:
		enc.SetIndent("", "  ")
		werr = enc.Encode(pingDoc{RequestID: sum.RequestID, RequestIDs: ids, Replies: nonNilSlice(replies),
			Refused: nonNilSlice(refused), NoReply: []string{}, NotSent: []string{}, Stats: pingStats(replies, refused, sum)})
	case jsonlOutput:
		if werr == nil {
			werr = enc.Encode(rpcSummaryLine{Type: "summary", RequestID: sum.RequestID, RequestIDs: ids, NoReply: []string{},
				NotSent: []string{}, Stats: pingStats(replies, refused, sum)})
		}
	default:
		printPingSummary(out, replies, refused, sum)
	}
	if werr != nil {
		return exitWith(ExitFailed, werr)
	}
	switch {
	case len(refused) > 0:
		return exitWith(ExitRefused, nil)
	case len(denials) > 0:
		return exitWith(ExitFailed, fmt.Errorf("%d node(s) refused this request, e.g. %s", len(denials), denials[0]))
	case len(replies) == 0 && o.filter.given():
		return exitWith(ExitNoReplies, fmt.Errorf("no nodes matched the filter"))
	case len(replies) == 0:
		return exitWith(ExitNoReplies, noAnswer("ping", o.target, ""))
	}
	return nil
}

func nonNilSlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func printPingLine(w io.Writer, r pingReply) {
	switch r.State {
	case client.Unsigned:
		fmt.Fprintf(w, "%-40s time=%.1f ms (unsigned reply)\n", r.Sender, r.RTTms)
	default:
		fmt.Fprintf(w, "%-40s time=%.1f ms\n", r.Sender, r.RTTms)
	}
}

// pingDoc is ping --json: rpc --json's fields (docs/cli.md).
type pingDoc struct {
	RequestID  string         `json:"request_id"`
	RequestIDs []string       `json:"request_ids"`
	Replies    []pingReply    `json:"replies"`
	Refused    []refusedReply `json:"refused"`
	NoReply    []string       `json:"no_reply"`
	NotSent    []string       `json:"not_sent"`
	Stats      rpcStats       `json:"stats"`
}

// pingStats are the totals of --json and --jsonl: nodes, replies and ok
// count the nodes that answered, refused the replies refused (by reason
// in refused_reasons), unsigned the answers accepted without a signature.
func pingStats(replies []pingReply, refused []refusedReply, sum *client.Summary) rpcStats {
	rtts := make([]float64, 0, len(replies))
	for _, r := range replies {
		rtts = append(rtts, r.RTTms)
	}
	sort.Float64s(rtts)
	st := rpcStats{Nodes: len(rtts), Replies: len(rtts), OK: len(rtts), Refused: len(refused),
		RefusedReasons: refusedReasons(refused), Unsigned: sum.Unsigned, ElapsedMS: sum.Elapsed.Milliseconds()}
	if len(rtts) > 0 {
		var total float64
		for _, v := range rtts {
			total += v
		}
		// microsecond precision: no float noise (1.1740000000000002) in JSON
		us := func(ms float64) *float64 { v := math.Round(ms*1000) / 1000; return &v }
		st.MinMS, st.MaxMS, st.AvgMS = us(rtts[0]), us(rtts[len(rtts)-1]), us(total/float64(len(rtts)))
	}
	return st
}

func printPingSummary(w io.Writer, replies []pingReply, refused []refusedReply, sum *client.Summary) {
	st := pingStats(replies, refused, sum)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "---- ping statistics ----")
	if st.Replies == 0 {
		fmt.Fprintf(w, "No replies received in %s\n", sum.Elapsed.Round(time.Millisecond))
	} else {
		fmt.Fprintf(w, "%d replies max: %.1f ms min: %.1f ms avg: %.1f ms (in %s)\n", st.Replies, *st.MaxMS, *st.MinMS, *st.AvgMS,
			sum.Elapsed.Round(time.Millisecond))
	}
	if sum.Unsigned > 0 {
		fmt.Fprintln(w, unsignedNote(sum.Unsigned))
	}
	if len(refused) > 0 {
		fmt.Fprintln(w, refusedSummary(refused)+refusedNote)
	}
}
