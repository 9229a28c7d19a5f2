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
	// HasClass reports an exact class; the name is already lower-cased.
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

// SyntaxError is a parse error at a byte offset of the source.
type SyntaxError struct {
	Src string // the expression
	Pos int    // byte offset, 0 ≤ Pos ≤ len(Src)
	Msg string
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
}

// Parse compiles src. Errors are *SyntaxError.
func Parse(src string) (*Expr, error) {
	if len(src) > MaxLength {
		return nil, &SyntaxError{Src: src, Pos: MaxLength, Msg: fmt.Sprintf("expression longer than %d bytes", MaxLength)}
	}
	p := &parser{src: src}
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
	return &Expr{src: src, root: root, unknown: p.unknown}, nil
}

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
