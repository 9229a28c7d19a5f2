package cli

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/tuttifleet/tutti/client"
)

// A refused reply is one the client could not accept: unsigned while
// signed replies are required (plugin.tutti.require_signed_replies, on by
// default), or one that did not verify. It is never a node that answered:
// ping, discover and rpc list it apart, with the sender it claims and the
// reason, count it by reason in the summary, and exit ExitRefused.

// refusedReply is a refused reply as printed and in --json.
type refusedReply struct {
	// Sender is what the reply claims; it is not verified.
	Sender string `json:"sender"`
	Reason string `json:"reason"`
	Error  string `json:"error"`
	// Stage is "discovery" for a reply to the discovery before an rpc.
	Stage string  `json:"stage,omitempty"`
	RTTms float64 `json:"rtt_ms"`
}

func toRefused(r client.Result, stage string) refusedReply {
	return refusedReply{Sender: r.Sender, Reason: string(r.Reason), Error: errString(r.Err), Stage: stage,
		RTTms: float64(r.RTT.Microseconds()) / 1000}
}

// refusedFrom converts a summary's refused replies.
func refusedFrom(sum *client.Summary, stage string) []refusedReply {
	if sum == nil {
		return nil
	}
	out := make([]refusedReply, 0, len(sum.Refused))
	for _, r := range sum.Refused {
		out = append(out, toRefused(r, stage))
	}
	return out
}

// refusedReasons counts refused replies by reason, for --json.
func refusedReasons(list []refusedReply) map[string]int {
	if len(list) == 0 {
		return nil
	}
	m := map[string]int{}
	for _, r := range list {
		m[r.Reason]++
	}
	return m
}

// refusedSummary is the summary line: "2 replies refused: 1 bad
// signature, 1 unsigned", or "1 reply refused: unsigned".
func refusedSummary(list []refusedReply) string {
	m := refusedReasons(list)
	reasons := make([]string, 0, len(m))
	for r := range m {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		parts[i] = fmt.Sprintf("%d %s", m[r], r)
	}
	if len(reasons) == 1 {
		parts[0] = reasons[0] // "1 reply refused: unsigned"
	}
	return fmt.Sprintf("%s refused: %s", plural(len(list), "reply", "replies"), strings.Join(parts, ", "))
}

// refusedLine describes one refused reply: the sender it claims, the
// stage, the reason and the error.
func refusedLine(r refusedReply) string {
	stage := ""
	if r.Stage != "" {
		stage = " (" + r.Stage + ")"
	}
	return fmt.Sprintf("refused%s: reply claiming to be from %s: %s: %s", stage, r.Sender, r.Reason, r.Error)
}

// refusedNote follows the summary line.
const refusedNote = " (not counted as nodes that answered)"

// printRefused writes the summary line, then one line per refused reply.
func printRefused(w io.Writer, list []refusedReply, indent string) {
	if len(list) == 0 {
		return
	}
	fmt.Fprintln(w, refusedSummary(list)+refusedNote)
	for _, r := range list {
		fmt.Fprintln(w, indent+refusedLine(r))
	}
}

// unsignedNote says that replies were accepted without a signature.
func unsignedNote(n int) string {
	return fmt.Sprintf("Unsigned replies accepted: %d (plugin.tutti.require_signed_replies = false; their senders are not verified)", n)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
