package filter

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/connector/protocol/compound"
)

// ErrLimit is wrapped by the error of a filter over one of its Limits: the
// node refuses such a request before compiling any of its filter.
var ErrLimit = errors.New("filter over a limit")

// Limits bound the work one request's filter may cost a node. A zero
// field is no bound (compound expressions keep the compound package's
// own bounds).
type Limits struct {
	// MaxEntries bounds the entries of all selectors together (identity,
	// agent, cf_class, fact and compound expressions).
	MaxEntries int
	// MaxRegexes bounds the regular expressions of the filter: /re/
	// entries of identity, agent and cf_class, =~ fact tests and those
	// compiled by compound expressions, all together.
	MaxRegexes int
	// MaxRegexLength bounds one regular expression, in bytes.
	MaxRegexLength int
	// MaxExpressions bounds the compound expressions.
	MaxExpressions int
	// MaxExpressionLength and MaxExpressionDepth bound one compound
	// expression: its length in bytes and its nesting.
	MaxExpressionLength int
	MaxExpressionDepth  int
}

// Default limits, far above what a CLI or a playbook sends (a few
// entries, a regex of tens of bytes, an expression of a few dozen), and
// far below what it takes to make filtering cost a node noticeable CPU.
const (
	DefaultMaxEntries          = 100000
	DefaultMaxRegexes          = 256
	DefaultMaxRegexLength      = 1024
	DefaultMaxExpressions      = 64
	DefaultMaxExpressionLength = 4096
	DefaultMaxExpressionDepth  = 32
)

// DefaultLimits are the Default* limits.
func DefaultLimits() Limits {
	return Limits{
		MaxEntries: DefaultMaxEntries, MaxRegexes: DefaultMaxRegexes, MaxRegexLength: DefaultMaxRegexLength,
		MaxExpressions: DefaultMaxExpressions, MaxExpressionLength: DefaultMaxExpressionLength,
		MaxExpressionDepth: DefaultMaxExpressionDepth,
	}
}

// Check reports whether f is within l by counting and measuring its
// entries, without compiling anything. The regular expressions that
// compound expressions compile are counted while they are parsed
// (Matcher.MatchLimited); Check bounds the rest.
func (l Limits) Check(f *protocol.Filter) error {
	if f == nil {
		return nil
	}
	exprs := 0
	for _, g := range f.Compound {
		exprs += len(g)
	}
	total := len(f.Identity) + len(f.Agent) + len(f.CFClass) + len(f.Fact) + exprs
	if l.MaxEntries > 0 && total > l.MaxEntries {
		return limitf("has %d entries, more than the maximum of %d (plugin.tutti.filter.max_entries)", total, l.MaxEntries)
	}
	if l.MaxExpressions > 0 && exprs > l.MaxExpressions {
		return limitf("has %d compound expressions, more than the maximum of %d (plugin.tutti.filter.max_expressions)", exprs, l.MaxExpressions)
	}
	regexes := 0
	for _, list := range [][]string{f.Identity, f.Agent, f.CFClass} {
		for _, s := range list {
			if !protocol.IsRegex(s) {
				continue
			}
			regexes++
			if err := l.checkRegex(s, regexes); err != nil {
				return err
			}
		}
	}
	for _, ff := range f.Fact {
		if strings.TrimSpace(ff.Operator) != "=~" {
			continue
		}
		regexes++
		if err := l.checkRegex(ff.Value, regexes); err != nil {
			return err
		}
	}
	for _, g := range f.Compound {
		for _, e := range g {
			if l.MaxExpressionLength > 0 && len(e.Expr) > l.MaxExpressionLength {
				return limitf("has a compound expression of %d bytes, more than the maximum of %d (plugin.tutti.filter.max_expression_length)",
					len(e.Expr), l.MaxExpressionLength)
			}
		}
	}
	return nil
}

func (l Limits) checkRegex(re string, count int) error {
	if l.MaxRegexes > 0 && count > l.MaxRegexes {
		return limitf("has more than %d regular expressions (plugin.tutti.filter.max_regexes)", l.MaxRegexes)
	}
	if l.MaxRegexLength > 0 && len(re) > l.MaxRegexLength {
		return limitf("has a regular expression of %d bytes, more than the maximum of %d (plugin.tutti.filter.max_regex_length)",
			len(re), l.MaxRegexLength)
	}
	return nil
}

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
// regular expressions are left to the filter (budget < 0: no bound).
func (l Limits) compoundLimits(budget int) compound.Limits {
	c := compound.Limits{MaxLength: l.MaxExpressionLength, MaxDepth: l.MaxExpressionDepth}
	if l.MaxRegexes > 0 {
		c.MaxRegexes = max(budget, 0)
		if c.MaxRegexes == 0 {
			c.MaxRegexes = -1 // none left: any regex is over
		}
	}
	return c
}

func limitf(format string, args ...any) error {
	return fmt.Errorf("%w: filter "+format, append([]any{ErrLimit}, args...)...)
}
