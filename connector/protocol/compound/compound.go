package compound

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Env is the node an expression is evaluated against.
type Env interface {
	// Fact returns the fact at a dotted path, as encoding/json decodes it.
	Fact(path string) (any, bool)
	// HasClass reports an exact class, compared case-sensitively.
	HasClass(name string) bool
	// MatchClass reports whether any class matches re.
	MatchClass(re *regexp.Regexp) bool
	// HasAgent reports whether the agent is loaded.
	HasAgent(name string) bool
	// Identity is the node's identity.
	Identity() string
	// Facts, Classes and Agents back the facts, classes and agents
	// variables. Callers must not modify what they return.
	Facts() map[string]any
	Classes() []string
	Agents() []string
}

// ErrUnknownFunction is returned (wrapped) by Eval when the expression
// calls a function this package does not implement.
var ErrUnknownFunction = errors.New("unknown function")

// MaxLength is the longest expression Parse accepts, in bytes.
const MaxLength = 64 << 10

// maxDepth bounds nesting so a hostile expression cannot exhaust the stack.
const maxDepth = 200

// ErrLimit is wrapped by the *SyntaxError of an expression over one of
// its Limits (a refusal of the expression's size, not of its syntax).
var ErrLimit = errors.New("compound expression over a limit")

// Limits bound the work of parsing one expression: its length in bytes,
// its nesting depth and the regular expressions compiled while parsing
// it. A zero field is the package's bound (MaxLength, a depth of 200, no
// bound on regular expressions); a field above the package's bound is
// that bound. A negative MaxRegexes allows none. The work of Eval is linear in the parsed tree, which
// MaxLength bounds.
type Limits struct {
	MaxLength  int
	MaxDepth   int
	MaxRegexes int
}

func (l Limits) length() int { return bound(l.MaxLength, MaxLength) }
func (l Limits) depth() int  { return bound(l.MaxDepth, maxDepth) }

func bound(v, hard int) int {
	if v <= 0 || v > hard {
		return hard
	}
	return v
}

// SyntaxError is a parse error at a byte offset of the source.
type SyntaxError struct {
	Src string // the expression
	Pos int    // byte offset, 0 ≤ Pos ≤ len(Src)
	Msg string
	// limit is set when the expression is over one of its Limits.
	limit bool
}

// Unwrap is ErrLimit for an expression over one of its Limits.
func (e *SyntaxError) Unwrap() error {
	if e.limit {
		return ErrLimit
	}
	return nil
}

// Error shows the message, then the source with a caret under Pos.
func (e *SyntaxError) Error() string {
	src := strings.ReplaceAll(strings.ReplaceAll(e.Src, "\n", " "), "\t", " ")
	col := utf8.RuneCountInString(e.Src[:min(max(e.Pos, 0), len(e.Src))])
	return fmt.Sprintf("invalid compound expression: %s at position %d\n  %s\n  %s^",
		e.Msg, e.Pos, src, strings.Repeat(" ", col))
}

// Expr is a parsed expression. It is immutable and safe for concurrent
// Eval calls.
type Expr struct {
	src     string
	root    node
	unknown []call // calls of functions we do not implement
	depth   int    // deepest nesting reached while parsing
	regexes int    // regular expressions compiled while parsing
}

// Parse compiles src within the package's bounds. Errors are *SyntaxError.
func Parse(src string) (*Expr, error) { return ParseLimited(src, Limits{}) }

// ParseLimited compiles src within lim. Errors are *SyntaxError; those of
// an expression over lim wrap ErrLimit. The length is checked before
// anything is parsed, and the count of regular expressions before each is
// compiled, so a refused expression costs at most lim's worth of work.
func ParseLimited(src string, lim Limits) (*Expr, error) {
	if n := lim.length(); len(src) > n {
		return nil, &SyntaxError{Src: src, Pos: n, Msg: fmt.Sprintf("expression longer than %d bytes", n), limit: true}
	}
	p := &parser{src: src, lim: lim}
	p.skipSpace()
	if p.pos == len(src) {
		return nil, p.errf(p.pos, "empty expression")
	}
	root, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos < len(src) {
		return nil, p.unexpected()
	}
	return &Expr{src: src, root: root, unknown: p.unknown, depth: p.maxDepth, regexes: p.regexes}, nil
}

// Within reports whether the expression, already parsed, is within lim
// (for an expression parsed earlier under other limits, or cached).
func (e *Expr) Within(lim Limits) error {
	switch {
	case len(e.src) > lim.length():
		return &SyntaxError{Src: e.src, Pos: lim.length(), Msg: fmt.Sprintf("expression longer than %d bytes", lim.length()), limit: true}
	case e.depth > lim.depth():
		return &SyntaxError{Src: e.src, Msg: fmt.Sprintf("expression nested more than %d levels deep", lim.depth()), limit: true}
	case lim.MaxRegexes != 0 && e.regexes > max(lim.MaxRegexes, 0):
		return &SyntaxError{Src: e.src, Msg: fmt.Sprintf("expression has more than %d regular expressions", max(lim.MaxRegexes, 0)), limit: true}
	}
	return nil
}

// Regexes is the number of regular expressions compiled while parsing.
func (e *Expr) Regexes() int { return e.regexes }

// Source is the text the expression was parsed from.
func (e *Expr) Source() string { return e.src }

// String renders the expression in canonical form: fully parenthesised,
// with && || ! and double-quoted strings. Parse(e.String()) yields an
// equivalent expression.
func (e *Expr) String() string {
	var b strings.Builder
	e.root.write(&b)
	return b.String()
}

// UnknownFunctions lists the names of called functions this package does
// not implement, in source order; Eval is always false when there are any.
func (e *Expr) UnknownFunctions() []string {
	out := make([]string, 0, len(e.unknown))
	for _, c := range e.unknown {
		out = append(out, c.name)
	}
	return out
}

// Eval evaluates the expression against env. A false result comes with an
// error when evaluation failed: an unknown function (ErrUnknownFunction),
// a bad operand type, a result that is not a boolean.
func (e *Expr) Eval(env Env) (bool, error) {
	if len(e.unknown) > 0 {
		c := e.unknown[0]
		return false, fmt.Errorf("%w %s() at position %d", ErrUnknownFunction, c.name, c.pos)
	}
	v, err := e.root.eval(env)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("expression result is %s, not a boolean", describe(v))
	}
	return b, nil
}
