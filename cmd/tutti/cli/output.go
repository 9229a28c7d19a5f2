package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/tuttifleet/tutti/agents/ddl"
	"github.com/tuttifleet/tutti/client"
	"github.com/tuttifleet/tutti/connector/protocol"
)

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

// failed reports whether the reply counts as a failure.
func (r *rpcResult) failed() bool {
	return r.StatusCode != protocol.OK
}

// toRPCResult converts an accepted reply (verified, or unsigned when
// those are accepted); refused replies go to toRefused.
func toRPCResult(r client.Result, action string) rpcResult {
	res := rpcResult{Sender: r.Sender, Action: action, Verification: r.State, RTTms: float64(r.RTT.Microseconds()) / 1000,
		TimeUTC: r.Received.UTC().Format(time.RFC3339), Data: json.RawMessage("{}")}
	if r.RPC != nil {
		res.StatusCode, res.StatusMsg = r.RPC.StatusCode, r.RPC.StatusMsg
		if len(r.RPC.Data) > 0 {
			res.Data = r.RPC.Data
		}
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
		if fi, fj := rs[i].failed(), rs[j].failed(); fi != fj {
			return fi
		}
		return rs[i].Sender < rs[j].Sender
	})
}

type outputMode int

const (
	humanOutput outputMode = iota
	jsonOutput
	jsonlOutput
)

func (o *outputFlags) mode() outputMode {
	switch {
	case o.json:
		return jsonOutput
	case o.jsonl:
		return jsonlOutput
	}
	return humanOutput
}

// limitNote says how --limit narrowed the nodes, for the summary.
type limitNote struct {
	Limit string `json:"limit"`
	Of    int    `json:"of"`
	Seed  uint64 `json:"seed"`
}

// rpcOutput prints the replies of one rpc request and counts them for the
// exit code. Human output and --json keep the replies and print at the
// end, failures first; --jsonl writes each reply as it arrives and keeps
// none, so its memory does not grow with the fleet. Refused replies (and
// those refused by the discovery before) are kept apart in every mode.
type rpcOutput struct {
	w             io.Writer
	mode          outputMode
	agent, action string
	ddl           *ddl.DDL               // the agent's DDL when the client has it
	shows         func(failed bool) bool // --display: which replies human output lists; nil lists all
	nodes         int
	limit         *limitNote
	bar           *progress
	results       []rpcResult
	refused       []refusedReply
	ok, failed    int
	busy          []string // nodes that refused for load (protocol.IsLoadRefusal), among failed
	enc           *json.Encoder
	err           error
	guard         guardNotes // replies that were a node's guard refusing (guardhint.go)

	// aggregates computes the lines printed between the replies and the
	// totals of the human output — DDL aggregates such as counts of
	// service states; nil means ddlAggregates. It gets every accepted
	// reply (failures included, in printed order) and returns whole
	// lines without newlines; nil or empty prints nothing. It is not
	// called for --json or --jsonl (--jsonl keeps no replies).
	aggregates func(d *ddl.DDL, agent, action string, replies []rpcResult) []string
}

func newRPCOutput(w io.Writer, mode outputMode, agent, action string, nodes int) *rpcOutput {
	return &rpcOutput{w: w, mode: mode, agent: agent, action: action, nodes: nodes, enc: json.NewEncoder(w)}
}

// addRefused takes refused replies; --jsonl writes them at once.
func (o *rpcOutput) addRefused(list []refusedReply) {
	for _, rr := range list {
		o.refused = append(o.refused, rr)
		if o.mode == jsonlOutput && o.err == nil {
			o.err = o.enc.Encode(refusedJSONLine{"refused", rr})
		}
	}
}

// reply takes one reply; client.Do calls it from one goroutine.
func (o *rpcOutput) reply(r client.Result) {
	if r.State == client.Failed {
		o.addRefused([]refusedReply{toRefused(r, "")})
		return
	}
	res := toRPCResult(r, o.action)
	o.guard.note(res)
	if res.failed() {
		o.failed++
		if protocol.IsLoadRefusal(res.StatusCode, res.StatusMsg) {
			o.busy = append(o.busy, res.Sender)
		}
	} else {
		o.ok++
	}
	o.bar.add()
	if o.mode != jsonlOutput {
		o.results = append(o.results, res)
		return
	}
	if o.err == nil {
		o.err = o.enc.Encode(struct {
			Type string `json:"type"`
			rpcResult
		}{"reply", res})
	}
}

// rpcStats are the totals of --json and --jsonl, of rpc and ping alike
// (one schema, docs/cli.md). Replies, OK and Failed count nodes that
// answered; Refused the refused replies (by reason in RefusedReasons),
// which are none of those. Ping's replies are all OK, its nodes those
// that answered, and it adds the round-trip times.
type rpcStats struct {
	Nodes          int            `json:"nodes"`
	Replies        int            `json:"replies"`
	OK             int            `json:"ok"`
	Failed         int            `json:"failed"`
	Busy           int            `json:"busy"` // of Failed, refused for load ("node busy", "rate limited")
	NoReply        int            `json:"no_reply"`
	Refused        int            `json:"refused"`
	RefusedReasons map[string]int `json:"refused_reasons,omitempty"`
	Unsigned       int            `json:"unsigned"`
	ElapsedMS      int64          `json:"elapsed_ms"`
	Limit          *limitNote     `json:"limit,omitempty"`
	MinMS          *float64       `json:"min_ms,omitempty"`
	MaxMS          *float64       `json:"max_ms,omitempty"`
	AvgMS          *float64       `json:"avg_ms,omitempty"`
}

// rpcSummaryLine is the last line of --jsonl.
type rpcSummaryLine struct {
	Type       string   `json:"type"`
	RequestID  string   `json:"request_id"`
	RequestIDs []string `json:"request_ids"`
	NoReply    []string `json:"no_reply"`
	NotSent    []string `json:"not_sent"`
	Stats      rpcStats `json:"stats"`
}

// finish prints what is left once the request ended.
func (o *rpcOutput) finish(sum *client.BatchSummary) error {
	o.bar.done()
	if o.err != nil {
		return o.err
	}
	stats := o.stats(sum)
	stats.Limit = o.limit
	ids, missing, notSent := nonNil(sum.RequestIDs), nonNil(sum.Missing), nonNil(sum.NotSent)
	switch o.mode {
	case jsonlOutput:
		return o.enc.Encode(rpcSummaryLine{Type: "summary", RequestID: sum.RequestID, RequestIDs: ids, NoReply: missing, NotSent: notSent, Stats: stats})
	case jsonOutput:
		sortResults(o.results)
		replies := o.results
		if replies == nil {
			replies = []rpcResult{}
		}
		enc := json.NewEncoder(o.w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"request_id": sum.RequestID, "request_ids": ids, "replies": replies,
			"refused": nonNilSlice(o.refused), "no_reply": missing, "not_sent": notSent, "stats": stats})
	}
	sortResults(o.results)
	return o.printHuman(sum)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (o *rpcOutput) printHuman(sum *client.BatchSummary) error {
	var b bytes.Buffer
	c := newColours(o.w)
	act := actionDDL(o.ddl, o.agent, o.action)
	for _, r := range o.results {
		if o.shows != nil && !o.shows(r.failed()) {
			continue
		}
		writeReplyBlock(&b, c, act, r)
	}
	aggregates := o.aggregates
	if aggregates == nil {
		aggregates = ddlAggregates
	}
	if lines := aggregates(o.ddl, o.agent, o.action, o.results); len(lines) > 0 {
		for _, l := range lines {
			b.WriteString(l + "\n")
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "Finished %s#%s on %d / %d nodes in %s: %s\n", o.agent, o.action,
		o.ok+o.failed, o.nodes, sum.Elapsed.Round(time.Millisecond), countsLine(c, o.ok, o.failed, len(sum.Missing)))
	if sum.Unsigned > 0 {
		b.WriteString(unsignedNote(sum.Unsigned) + "\n")
	}
	if len(o.busy) > 0 {
		sort.Strings(o.busy)
		fmt.Fprintf(&b, "%s %s refused for load (node busy or rate limited), the request did not run there; "+
			"retry them later, or send to fewer nodes at a time (--batch N): %s\n",
			c.bad("Busy:"), plural(len(o.busy), "node", "nodes"), strings.Join(o.busy, ", "))
	}
	printRefused(&b, o.refused, "  ")
	if len(sum.Missing) > 0 {
		fmt.Fprintf(&b, "No reply from: %s\n", strings.Join(sum.Missing, ", "))
	}
	if len(sum.NotSent) > 0 {
		fmt.Fprintf(&b, "Not sent (interrupted): %s\n", strings.Join(sum.NotSent, ", "))
	}
	if o.limit != nil {
		fmt.Fprintf(&b, "Limited to %d of %d nodes at random (--limit %s --limit-seed %d repeats this choice)\n",
			o.nodes, o.limit.Of, o.limit.Limit, o.limit.Seed)
	}
	_, err := o.w.Write(b.Bytes())
	return err
}

// countsLine is "3 OK, 1 failed, 0 no reply", coloured on a terminal.
func countsLine(c colours, ok, failed, noReply int) string {
	paint := func(n int, what string, col func(string) string) string {
		s := fmt.Sprintf("%d %s", n, what)
		if n > 0 {
			return col(s)
		}
		return s
	}
	return paint(ok, "OK", c.ok) + ", " + paint(failed, "failed", c.bad) + ", " + paint(noReply, "no reply", c.bad)
}

// exit is the exit code (docs/cli.md): 3 when a reply was refused, 2
// when no node replied, 1 when a reply failed or a node did not reply or
// was not sent the request.
func (o *rpcOutput) exit(sum *client.BatchSummary) error {
	switch {
	case len(o.refused) > 0:
		return exitWith(ExitRefused, nil)
	case o.ok+o.failed == 0:
		return exitWith(ExitNoReplies, nil)
	case o.failed > 0 || len(sum.Missing) > 0 || len(sum.NotSent) > 0:
		return exitWith(ExitFailed, nil)
	}
	return nil
}
