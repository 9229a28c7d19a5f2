package filter

import (
	"strings"

	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/connector/protocol/compound"
)

// Limits bound the work one request's filter may cost a node
// (protocol.FilterLimits): a filter over them is refused before any of it
// is compiled.
type Limits = protocol.FilterLimits

// ErrLimit is wrapped by the error of a filter over one of its Limits.
var ErrLimit = protocol.ErrFilterLimit

// Default limits (protocol.DefaultFilter*).
const (
	DefaultMaxEntries          = protocol.DefaultFilterMaxEntries
	DefaultMaxRegexes          = protocol.DefaultFilterMaxRegexes
	DefaultMaxRegexLength      = protocol.DefaultFilterMaxRegexLength
	DefaultMaxExpressions      = protocol.DefaultFilterMaxExpressions
	DefaultMaxExpressionLength = protocol.DefaultFilterMaxExpressionLength
	DefaultMaxExpressionDepth  = protocol.DefaultFilterMaxExpressionDepth
)

// DefaultLimits are the default limits.
func DefaultLimits() Limits { return protocol.DefaultFilterLimits() }

// regexes counts the regular expressions of f outside compound
// expressions (Check has bounded them).
func regexes(f *protocol.Filter) int {
	n := 0
	for _, list := range [][]string{f.Identity, f.Agent, f.CFClass} {
		for _, s := range list {
			if protocol.IsRegex(s) {
				n++
			}
		}
	}
	for _, ff := range f.Fact {
		if strings.TrimSpace(ff.Operator) == "=~" {
			n++
		}
	}
	return n
}

// compoundLimits are the bounds of one compound expression when budget
// regular expressions are left to the filter (no bound on them when
// l.MaxRegexes is 0).
func compoundLimits(l Limits, budget int) compound.Limits {
	c := compound.Limits{MaxLength: l.MaxExpressionLength, MaxDepth: l.MaxExpressionDepth}
	if l.MaxRegexes > 0 {
		c.MaxRegexes = max(budget, 0)
		if c.MaxRegexes == 0 {
			c.MaxRegexes = -1 // none left: any regex is over
		}
	}
	return c
}
