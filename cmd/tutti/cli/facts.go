package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tuttifleet/tutti/agents/ddl"
	"github.com/tuttifleet/tutti/client"
)

type factsOpts struct {
	sel       selectFlags
	timeout   time.Duration
	json      bool
	showNodes bool
}

func newFactsCmd(g *globals) *cobra.Command {
	o := &factsOpts{}
	cmd := &cobra.Command{
		Use:   "facts FACT",
		Short: "Count the values of a fact across the matching nodes",
		Long: "facts asks the matching nodes for one fact (rpcutil#get_fact, as Choria's facts does) and prints\n" +
			"how many nodes have each value, most common first; a node without the fact counts as " + ddl.MissingValue + ".\n" +
			"-n lists the nodes of each value. Nested facts are dotted paths (os.family). Refused replies\n" +
			"are shown apart and exit 3, as with rpc.",
		Example: "  tutti facts os.family\n" +
			"  tutti facts role -C base -n\n" +
			"  tutti facts site.country -F role=web --json | jq '.values[] | {value, count}'",
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error { return runFacts(cmd, g, o, args[0]) },
	}
	o.sel.addDiscoveryFlags(cmd)
	fl := cmd.Flags()
	durationVar(fl, &o.timeout, "timeout", "t", 10*time.Second, "longest wait for the replies")
	fl.BoolVar(&o.json, "json", false, "print one JSON document")
	fl.BoolVarP(&o.showNodes, "nodes", "n", false, "list the nodes that have each value")
	registerFlagCompletions(cmd)
	return cmd
}

// factValue is one value of the fact and the nodes that have it.
type factValue struct {
	Value json.RawMessage `json:"value"` // null: the nodes do not have the fact
	Count int             `json:"count"`
	Nodes []string        `json:"nodes"`

	text string // as printed
}

// factsDoc is facts --json: the values, then rpc --json's fields.
type factsDoc struct {
	Fact       string         `json:"fact"`
	Values     []factValue    `json:"values"`
	Failed     []rpcResult    `json:"failed"`
	RequestID  string         `json:"request_id"`
	RequestIDs []string       `json:"request_ids"`
	Refused    []refusedReply `json:"refused"`
	NoReply    []string       `json:"no_reply"`
	NotSent    []string       `json:"not_sent"`
	Stats      rpcStats       `json:"stats"`
}

func runFacts(cmd *cobra.Command, g *globals, o *factsOpts, fact string) error {
	if fact == "" || len(fact) > 512 {
		return exitWith(ExitUsage, fmt.Errorf("a fact name has 1 to 512 characters"))
	}
	data, err := json.Marshal(map[string]string{"fact": fact})
	if err != nil {
		return exitWith(ExitFailed, err)
	}
	s, err := g.connect(cmd)
	if err != nil {
		return err
	}
	defer s.Close()
	out, sum, err := fleetCall{agent: "rpcutil", action: "get_fact", data: data, timeout: o.timeout}.run(cmd, g, s, &o.sel)
	if err != nil {
		return err
	}
	doc := factsDoc{Fact: fact, Values: factValues(out.results), Failed: []rpcResult{}, RequestID: sum.RequestID,
		RequestIDs: nonNil(sum.RequestIDs), Refused: nonNilSlice(out.refused), NoReply: nonNil(sum.Missing),
		NotSent: nonNil(sum.NotSent), Stats: out.stats(sum)}
	for _, r := range out.results {
		if r.failed() {
			doc.Failed = append(doc.Failed, r)
		}
	}
	if o.json {
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(doc)
	} else {
		err = printFacts(g.stdout, &doc, o.showNodes, sum)
	}
	if err != nil {
		return exitWith(ExitFailed, err)
	}
	return out.exit(sum)
}

// factValues counts the values of the successful replies, most common
// first, then by value.
func factValues(results []rpcResult) []factValue {
	byText := map[string]*factValue{}
	counts := map[string]int{}
	for _, r := range results {
		if r.failed() {
			continue
		}
		var d struct {
			Value json.RawMessage `json:"value"`
		}
		_ = json.Unmarshal(r.Data, &d) // no value: missing
		if len(d.Value) == 0 {
			d.Value = json.RawMessage("null")
		}
		text := factText(d.Value)
		v := byText[text]
		if v == nil {
			v = &factValue{Value: json.RawMessage(compactJSON(d.Value)), text: text}
			byText[text] = v
		}
		v.Count++
		v.Nodes = append(v.Nodes, r.Sender)
		counts[text] = v.Count
	}
	out := make([]factValue, 0, len(byText))
	for _, k := range countsOrder(counts) {
		out = append(out, *byText[k])
	}
	return out
}

// factText is a value as people read it: a string as it is, "" for the
// empty string, null as missing, anything else as compact JSON.
func factText(raw json.RawMessage) string {
	var s string
	switch {
	case bytes.Equal(bytes.TrimSpace(raw), []byte("null")):
		return ddl.MissingValue
	case json.Unmarshal(raw, &s) == nil && s == "":
		return `""`
	case json.Unmarshal(raw, &s) == nil:
		return s
	}
	return compactJSON(raw)
}

func printFacts(w io.Writer, doc *factsDoc, showNodes bool, sum *client.BatchSummary) error {
	var b bytes.Buffer
	c := newColours(w)
	fmt.Fprintf(&b, "Report for fact: %s\n\n", doc.Fact)
	width := 0
	for _, v := range doc.Values {
		width = max(width, len(v.text))
	}
	for _, v := range doc.Values {
		fmt.Fprintf(&b, "   %-*s  found %s\n", width, v.text, plural(v.Count, "time", "times"))
		if showNodes {
			for _, n := range v.Nodes {
				fmt.Fprintf(&b, "      %s\n", n)
			}
			b.WriteString("\n")
		}
	}
	if len(doc.Values) == 0 {
		b.WriteString("   no node answered with a value\n")
	}
	if !showNodes || len(doc.Values) == 0 {
		b.WriteString("\n")
	}
	for _, r := range doc.Failed {
		fmt.Fprintln(&b, c.bad(fmt.Sprintf("%s  %s: %s", r.Sender, r.StatusCode, r.StatusMsg)))
	}
	if len(doc.Failed) > 0 {
		b.WriteString("\n")
	}
	st := doc.Stats
	fmt.Fprintf(&b, "Finished facts %s on %d / %d nodes in %s: %s\n", doc.Fact, st.Replies, st.Nodes,
		sum.Elapsed.Round(time.Millisecond), countsLine(c, st.OK, st.Failed, st.NoReply))
	if sum.Unsigned > 0 {
		b.WriteString(unsignedNote(sum.Unsigned) + "\n")
	}
	printRefused(&b, doc.Refused, "  ")
	if len(doc.NoReply) > 0 {
		fmt.Fprintf(&b, "No reply from: %s\n", strings.Join(doc.NoReply, ", "))
	}
	_, err := w.Write(b.Bytes())
	return err
}
