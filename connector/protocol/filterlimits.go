package protocol

import (
	"errors"
	"fmt"
	"strings"
)

// ErrFilterLimit is wrapped by the error of a filter over one of its Limits: the
// node refuses such a request before compiling any of its filter.
var ErrFilterLimit = errors.New("filter over a limit")

// FilterLimits bound the work one request's filter may cost a node. A zero
// field is no bound (compound expressions keep the compound package's
// own bounds). Nodes apply them (server/filter) from plugin.tutti.filter.*;
// the client checks its filters against the defaults before signing.
type FilterLimits struct {
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
	DefaultFilterMaxEntries          = 100000
	DefaultFilterMaxRegexes          = 256
	DefaultFilterMaxRegexLength      = 1024
	DefaultFilterMaxExpressions      = 64
	DefaultFilterMaxExpressionLength = 4096
	DefaultFilterMaxExpressionDepth  = 32
)

// DefaultFilterLimits are the DefaultFilter* limits.
func DefaultFilterLimits() FilterLimits {
	return FilterLimits{
		MaxEntries: DefaultFilterMaxEntries, MaxRegexes: DefaultFilterMaxRegexes, MaxRegexLength: DefaultFilterMaxRegexLength,
		MaxExpressions: DefaultFilterMaxExpressions, MaxExpressionLength: DefaultFilterMaxExpressionLength,
		MaxExpressionDepth: DefaultFilterMaxExpressionDepth,
	}
}

// Check reports whether f is within l by counting and measuring its
// entries, without compiling anything. The regular expressions that
// compound expressions compile are counted while they are parsed
// (server/filter); Check bounds the rest.
func (l FilterLimits) Check(f *Filter) error {
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
			if !IsRegex(s) {
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

func (l FilterLimits) checkRegex(re string, count int) error {
	if l.MaxRegexes > 0 && count > l.MaxRegexes {
		return limitf("has more than %d regular expressions (plugin.tutti.filter.max_regexes)", l.MaxRegexes)
	}
	if l.MaxRegexLength > 0 && len(re) > l.MaxRegexLength {
		return limitf("has a regular expression of %d bytes, more than the maximum of %d (plugin.tutti.filter.max_regex_length)",
			len(re), l.MaxRegexLength)
	}
	return nil
}

func limitf(format string, args ...any) error {
	return fmt.Errorf("%w: filter "+format, append([]any{ErrFilterLimit}, args...)...)
}
