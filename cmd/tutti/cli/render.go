package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/tuttifleet/tutti/agents"
	"github.com/tuttifleet/tutti/agents/ddl"
	"github.com/tuttifleet/tutti/client"
)

// The human output of a reply is a block, as Choria's req prints it: the
// sender on its own line (with the status when the reply failed), then
// each output of the reply as "Label: value", the labels (the DDL's
// display_as) right-aligned, in the order the DDL declares the outputs.
// Outputs the DDL does not name follow, sorted, labelled by their key.
// Hashes are indented under their label, lists wrapped at wrapWidth.

// wrapWidth is the width lists are wrapped at.
const wrapWidth = 80

// blockIndent is the indentation of a block's fields under the sender.
const blockIndent = 3

// colours paint the human output: OK green, failures red. They are on
// only when the output is a terminal and NO_COLOR is not set
// (no-color.org); tests and pipes get plain text.
type colours struct{ on bool }

func newColours(w io.Writer) colours {
	return colours{on: os.Getenv("NO_COLOR") == "" && isTerminalOut(w)}
}

func (c colours) paint(code, s string) string {
	if !c.on || s == "" {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

func (c colours) ok(s string) string  { return c.paint("32", s) }
func (c colours) bad(s string) string { return c.paint("31", s) }

// actionDDL is the DDL of agent#action: d when the client found one, else
// the built-in agent's; nil when none is known.
func actionDDL(d *ddl.DDL, agent, action string) *ddl.Action {
	if d == nil {
		var ok bool
		if d, ok = agents.BuiltinDDL(agent); !ok {
			return nil
		}
	}
	a, _ := d.Action(action)
	return a
}

// writeReplyBlock writes one reply as a labelled block and a blank line.
func writeReplyBlock(b *bytes.Buffer, c colours, act *ddl.Action, r rpcResult) {
	head := c.ok(r.Sender)
	if r.failed() {
		head = c.bad(r.Sender + "  " + r.StatusCode.String() + ": " + r.StatusMsg)
	}
	if r.Verification == client.Unsigned {
		head += "  (unsigned reply)"
	}
	b.WriteString(head + "\n")
	var data map[string]json.RawMessage
	if err := json.Unmarshal(r.Data, &data); err != nil {
		// Not an object: the node's data, as it sent it.
		if d := compactJSON(r.Data); d != "" && d != "null" {
			b.WriteString(strings.Repeat(" ", blockIndent) + d + "\n")
		}
		b.WriteString("\n")
		return
	}
	names, labels := fieldOrder(act, data)
	writeFields(b, blockIndent, names, labels, data)
	b.WriteString("\n")
}

// fieldOrder returns the keys of data in display order and their labels.
func fieldOrder(act *ddl.Action, data map[string]json.RawMessage) ([]string, map[string]string) {
	labels := map[string]string{}
	var names []string
	if act != nil {
		for _, n := range act.DisplayOrder() {
			if _, ok := data[n]; ok {
				names = append(names, n)
				labels[n] = n
				if l := act.Output[n].DisplayAs; l != "" {
					labels[n] = l
				}
			}
		}
	}
	var rest []string
	for k := range data {
		if _, ok := labels[k]; !ok {
			rest = append(rest, k)
			labels[k] = k
		}
	}
	sort.Strings(rest)
	return append(names, rest...), labels
}

// writeFields writes "label: value" lines, labels right-aligned at
// indent; a hash continues on the lines below, indented to the values.
func writeFields(b *bytes.Buffer, indent int, names []string, labels map[string]string, data map[string]json.RawMessage) {
	width := 0
	for _, n := range names {
		width = max(width, len(labels[n]))
	}
	for _, n := range names {
		col := indent + width + 2 // where values start
		fmt.Fprintf(b, "%*s%*s:", indent, "", width, labels[n])
		var v any
		dec := json.NewDecoder(bytes.NewReader(data[n]))
		dec.UseNumber()
		if dec.Decode(&v) != nil {
			b.WriteString(" " + string(data[n]) + "\n")
			continue
		}
		writeValue(b, col, v)
	}
}

// writeValue writes v after a label (the cursor is just after the colon);
// col is the column values start at.
func writeValue(b *bytes.Buffer, col int, v any) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			b.WriteString(" (none)\n")
			return
		}
		b.WriteString("\n")
		sub := make(map[string]json.RawMessage, len(x))
		labels := make(map[string]string, len(x))
		names := make([]string, 0, len(x))
		for k, val := range x {
			raw, _ := json.Marshal(val)
			sub[k], labels[k] = raw, k
			names = append(names, k)
		}
		sort.Strings(names)
		writeFields(b, col, names, labels, sub)
	case []any:
		if len(x) == 0 {
			b.WriteString(" (none)\n")
			return
		}
		items := make([]string, len(x))
		for i, it := range x {
			items[i] = scalarText(it)
		}
		b.WriteString(" " + wrapList(items, col) + "\n")
	default:
		b.WriteString(" " + scalarText(x) + "\n")
	}
}

// scalarText renders a value on one line: strings as they are, null as
// missing, anything else as compact JSON.
func scalarText(v any) string {
	switch x := v.(type) {
	case nil:
		return ddl.MissingValue
	case string:
		return x
	}
	raw, _ := json.Marshal(v)
	return string(raw)
}

// wrapList joins items with ", ", wrapping before wrapWidth; lines after
// the first start at column col, where the first starts.
func wrapList(items []string, col int) string {
	var b strings.Builder
	line := col
	for i, it := range items {
		if i < len(items)-1 {
			it += ","
		}
		if i > 0 {
			if line+1+len(it) > wrapWidth {
				b.WriteString("\n" + strings.Repeat(" ", col))
				line = col
			} else {
				b.WriteString(" ")
				line++
			}
		}
		b.WriteString(it)
		line += len(it)
	}
	return b.String()
}

func compactJSON(raw json.RawMessage) string {
	var data bytes.Buffer
	if json.Compact(&data, raw) != nil {
		return string(raw)
	}
	return data.String()
}

// aggregateLines renders DDL aggregates as Choria's summaries:
//
//	Summary of Service Status:
//
//	   running = 2
//	   stopped = 1
func aggregateLines(results []ddl.Result) []string {
	var lines []string
	for _, res := range results {
		if len(res.Counts) == 0 && res.N == 0 {
			continue // no reply carried this output: say nothing
		}
		if len(lines) > 0 {
			lines = append(lines, "")
		}
		lines = append(lines, "Summary of "+res.DisplayAs+":", "")
		if res.Function != "summary" {
			lines = append(lines, fmt.Sprintf("   %s: %s", res.Function, strings.TrimPrefix(res.String(), res.DisplayAs+": "+res.Function+" ")))
			continue
		}
		keys := countsOrder(res.Counts)
		width := 0
		for _, k := range keys {
			width = max(width, len(k))
		}
		for _, k := range keys {
			lines = append(lines, fmt.Sprintf("   %*s = %d", width, k, res.Counts[k]))
		}
	}
	return lines
}

// countsOrder sorts values by count, most first, then by name.
func countsOrder(counts map[string]int) []string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if counts[keys[i]] != counts[keys[j]] {
			return counts[keys[i]] > counts[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys
}
