// Package filter decides whether a node is selected by a request's filter
// (docs/protocol.md §13.2, Choria semantics):
//
//   - all filter types present must match; an empty filter matches every node;
//   - a key of the filter object that is none of the types below selects
//     no node (fail closed: a selector this node does not understand
//     could have been meant to exclude it);
//   - identity: any entry matches (OR), exact or /regex/;
//   - agent: every entry (AND), exact or /regex/ against each loaded agent;
//   - cf_class: every entry (AND), exact or /regex/ against each class;
//   - fact: every entry (AND) through protocol.MatchFact;
//   - compound: every expression must be true (W14: go-choria counts
//     true/false results, so [true, true, false] passes there).
//
// Names are compared as Choria and MCollective compare them: exactly, and
// identity, agent and class /re/ are searched case-sensitively
// (protocol.CompileNameRegex). Fact values keep tutti's rules
// (protocol.MatchFact: =~ is case-insensitive). An invalid regular expression or expression is
// never a match and comes back as an error for the log.
package filter

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/connector/protocol/compound"
)

// Node is what a filter is matched against: the server's identity, facts,
// classes and loaded agents.
type Node interface {
	Identity() string
	Fact(path string) (any, bool)
	HasClass(name string) bool // exact, case-sensitive
	Classes() []string
	HasAgent(name string) bool
	Agents() []string
	Facts() map[string]any
}

// Result is the outcome of a match. When Match is false, Reason says which
// entry failed, for a debug log.
type Result struct {
	Match  bool
	Reason string
}

// ErrUnknownSelector is wrapped by the error of a filter that has a key
// (a selector) this node does not know: such a filter selects no node.
var ErrUnknownSelector = errors.New("unknown filter selector")

// DefaultCacheSize is the number of compound expressions the package-level
// Match keeps parsed.
const DefaultCacheSize = 256

// Matcher matches filters and keeps parsed compound expressions in a
// bounded cache keyed by their text (requests repeat the same filters).
// It is safe for concurrent use.
type Matcher struct {
	mu    sync.RWMutex
	max   int
	exprs map[string]parsed
}

type parsed struct {
	expr *compound.Expr
	err  error
}

// NewMatcher returns a Matcher caching up to cacheSize compound
// expressions (at least 1).
func NewMatcher(cacheSize int) *Matcher {
	return &Matcher{max: max(cacheSize, 1), exprs: make(map[string]parsed)}
}

// defaultMatcher backs Match. Its only state is the expression cache,
// which is invisible to callers (like regexp caches).
var defaultMatcher = NewMatcher(DefaultCacheSize)

// Match reports whether n is selected by f using a shared Matcher.
func Match(f *protocol.Filter, n Node) (Result, error) { return defaultMatcher.Match(f, n) }

// MatchLimited is Matcher.MatchLimited on the shared Matcher.
func MatchLimited(f *protocol.Filter, n Node, lim Limits) (Result, error) {
	return defaultMatcher.MatchLimited(f, n, lim)
}

// Match reports whether n is selected by f. A nil or empty filter matches.
// An error (invalid regular expression or compound expression, unknown
// function) always comes with a non-match.
func (m *Matcher) Match(f *protocol.Filter, n Node) (Result, error) {
	return m.MatchLimited(f, n, Limits{})
}

// MatchLimited is Match within lim: a filter over lim is refused with an
// error wrapping ErrLimit before any of it is compiled (lim.Check), and
// compound expressions are parsed within what is left of lim.MaxRegexes.
func (m *Matcher) MatchLimited(f *protocol.Filter, n Node, lim Limits) (Result, error) {
	if f == nil {
		return Result{Match: true}, nil
	}
	if err := lim.Check(f); err != nil {
		return fail("filter is over a limit"), err
	}
	if len(f.Unknown) > 0 {
		return fail("filter has selectors this node does not understand: ", strings.Join(f.Unknown, ", ")),
			fmt.Errorf("%w: %s", ErrUnknownSelector, strings.Join(f.Unknown, ", "))
	}
	if r, err := matchIdentity(f.Identity, n); !r.Match || err != nil {
		return r, err
	}
	for _, a := range f.Agent {
		if r, err := matchAgent(a, n); !r.Match || err != nil {
			return r, err
		}
	}
	for _, c := range f.CFClass {
		if r, err := matchClass(c, n); !r.Match || err != nil {
			return r, err
		}
	}
	for _, ff := range f.Fact {
		v, ok := n.Fact(ff.Fact)
		hit, err := protocol.MatchFact(v, ok, ff)
		if err != nil {
			return fail("fact ", ff.Fact, ff.Operator, ff.Value, " is invalid"),
				fmt.Errorf("fact filter %s%s%s: %w", ff.Fact, ff.Operator, ff.Value, err)
		}
		if !hit {
			return fail("fact ", ff.Fact, ff.Operator, ff.Value, " does not match"), nil
		}
	}
	budget := lim.MaxRegexes - regexes(f)
	for i, group := range f.Compound {
		for _, e := range group {
			r, used, err := m.matchCompound(i, e, n, compoundLimits(lim, budget))
			if !r.Match || err != nil {
				return r, err
			}
			budget -= used
		}
	}
	return Result{Match: true}, nil
}

func fail(parts ...string) Result { return Result{Reason: strings.Join(parts, "")} }

func matchIdentity(ids []string, n Node) (Result, error) {
	if len(ids) == 0 {
		return Result{Match: true}, nil
	}
	id := n.Identity()
	for _, want := range ids {
		if !protocol.IsRegex(want) {
			if want == id {
				return Result{Match: true}, nil
			}
			continue
		}
		re, err := protocol.CompileNameRegex(want)
		if err != nil {
			return fail("identity filter ", want, " is invalid"), fmt.Errorf("identity filter: %w", err)
		}
		if re.MatchString(id) {
			return Result{Match: true}, nil
		}
	}
	return fail("identity ", id, " matches none of ", strings.Join(ids, ", ")), nil
}

func matchAgent(want string, n Node) (Result, error) {
	if !protocol.IsRegex(want) {
		if n.HasAgent(want) {
			return Result{Match: true}, nil
		}
		return fail("agent ", want, " is not loaded"), nil
	}
	re, err := protocol.CompileNameRegex(want)
	if err != nil {
		return fail("agent filter ", want, " is invalid"), fmt.Errorf("agent filter: %w", err)
	}
	if anyMatch(re, n.Agents()) {
		return Result{Match: true}, nil
	}
	return fail("no loaded agent matches ", want), nil
}

func matchClass(want string, n Node) (Result, error) {
	if !protocol.IsRegex(want) {
		if n.HasClass(want) {
			return Result{Match: true}, nil
		}
		return fail("class ", want, " not found"), nil
	}
	re, err := protocol.CompileNameRegex(want)
	if err != nil {
		return fail("class filter ", want, " is invalid"), fmt.Errorf("class filter: %w", err)
	}
	if anyMatch(re, n.Classes()) {
		return Result{Match: true}, nil
	}
	return fail("no class matches ", want), nil
}

func anyMatch(re *regexp.Regexp, names []string) bool {
	for _, s := range names {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// matchCompound evaluates one expression parsed within lim; used is the
// number of regular expressions it compiled.
func (m *Matcher) matchCompound(i int, e protocol.CompoundEntry, n Node, lim compound.Limits) (r Result, used int, err error) {
	if e.Raw != nil {
		return fail("compound filter ", fmt.Sprint(i), " is not a Choria expression"), 0,
			fmt.Errorf("compound filter %d: MCollective token lists are not supported; send {\"expr\": ...}", i)
	}
	x, err := m.parse(e.Expr, lim)
	if errors.Is(err, compound.ErrLimit) {
		return fail("compound expression ", e.Expr, " is over a limit"), 0, fmt.Errorf("%w: compound filter %d: %w", ErrLimit, i, err)
	}
	if err != nil {
		return fail("compound expression ", e.Expr, " is invalid"), 0, fmt.Errorf("compound filter %d: %w", i, err)
	}
	used = x.Regexes()
	ok, err := x.Eval(env{n})
	if err != nil {
		return fail("compound expression ", e.Expr, " failed"), used, fmt.Errorf("compound filter %d %q: %w", i, e.Expr, err)
	}
	if !ok {
		return fail("compound expression ", e.Expr, " is false"), used, nil
	}
	return Result{Match: true}, used, nil
}

// parse parses src within lim, through the cache. An expression over lim
// is not cached (another filter may leave it more room); one cached is
// checked against lim before it is used.
func (m *Matcher) parse(src string, lim compound.Limits) (*compound.Expr, error) {
	m.mu.RLock()
	p, ok := m.exprs[src]
	m.mu.RUnlock()
	if ok {
		if p.err == nil {
			if err := p.expr.Within(lim); err != nil {
				return nil, err
			}
		}
		return p.expr, p.err
	}
	x, err := compound.ParseLimited(src, lim)
	if errors.Is(err, compound.ErrLimit) {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.exprs) >= m.max {
		for k := range m.exprs { // evict an arbitrary entry
			delete(m.exprs, k)
			break
		}
	}
	m.exprs[src] = parsed{expr: x, err: err}
	return x, err
}

// env adapts a Node to compound.Env.
type env struct{ Node }

func (e env) MatchClass(re *regexp.Regexp) bool { return anyMatch(re, e.Classes()) }

var _ compound.Env = env{}
