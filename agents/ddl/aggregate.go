package ddl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Result is one aggregate computed over the replies of a request.
type Result struct {
	Function  string `json:"function"`
	Output    string `json:"output"`
	DisplayAs string `json:"display_as"`
	// Counts is the number of replies per value (summary).
	Counts map[string]int `json:"counts,omitempty"`
	// Value is the sum or the average of the numeric values.
	Value float64 `json:"value"`
	// N is how many replies had a usable value.
	N int `json:"n"`
}

// Aggregate computes the action's aggregates over the data objects of
// the successful replies. Replies without the output, or with a value of
// the wrong kind for average/sum, are not counted.
func (a *Action) Aggregate(replies []json.RawMessage) []Result {
	if len(a.Aggregates) == 0 {
		return nil
	}
	values := make([]map[string]json.RawMessage, 0, len(replies))
	for _, r := range replies {
		var m map[string]json.RawMessage
		if json.Unmarshal(r, &m) == nil {
			values = append(values, m)
		}
	}
	out := make([]Result, 0, len(a.Aggregates))
	for _, ag := range a.Aggregates {
		res := Result{Function: ag.Function, Output: ag.output, DisplayAs: a.Output[ag.output].DisplayAs}
		if res.DisplayAs == "" {
			res.DisplayAs = ag.output
		}
		if ag.Function == "summary" {
			res.Counts = map[string]int{}
		}
		for _, m := range values {
			raw, ok := m[ag.output]
			if !ok {
				continue
			}
			switch ag.Function {
			case "summary":
				res.Counts[summaryKey(raw)]++
				res.N++
			case "sum", "average":
				var f float64
				if json.Unmarshal(raw, &f) == nil {
					res.Value += f
					res.N++
				}
			}
		}
		if ag.Function == "average" && res.N > 0 {
			res.Value /= float64(res.N)
		}
		out = append(out, res)
	}
	return out
}

// MissingValue is the summary key of an output that is null: a value the
// node does not have (rpcutil#get_fact of a missing fact), told apart
// from the empty string, which is shown as "".
const MissingValue = "(missing)"

func summaryKey(raw json.RawMessage) string {
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return MissingValue
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return `""`
		}
		return s
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

// String renders the result for people: "Status: running=3 stopped=1"
// (most frequent first) or "Uptime: average 12.5 (4 replies)".
func (r Result) String() string {
	switch r.Function {
	case "summary":
		keys := make([]string, 0, len(r.Counts))
		for k := range r.Counts {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if r.Counts[keys[i]] != r.Counts[keys[j]] {
				return r.Counts[keys[i]] > r.Counts[keys[j]]
			}
			return keys[i] < keys[j]
		})
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s=%d", k, r.Counts[k])
		}
		if len(parts) == 0 {
			return r.DisplayAs + ": no values"
		}
		return r.DisplayAs + ": " + strings.Join(parts, " ")
	default:
		return fmt.Sprintf("%s: %s %s (%d replies)", r.DisplayAs, r.Function, strconv.FormatFloat(r.Value, 'g', 6, 64), r.N)
	}
}
