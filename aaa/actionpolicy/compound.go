package actionpolicy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tuttifleet/tutti/connector/protocol"
)

// maxDepth bounds nesting of parentheses and `not` in one expression.
const maxDepth = 64

type tokKind uint8

const (
	tokOperand tokKind = iota
	tokData            // operand holding a data-function call
	tokAnd
	tokOr
	tokNot
	tokLParen
	tokRParen
)

type token struct {
	kind tokKind
	text string
}

// compileCompound compiles a compound facts/classes field, or the fourth
// field of a four-field rule (docs/actionpolicy.md §2.6): operands are fact tests,
// class names, /class regex/ and data-function tests; `not`/`!` bind
// tightest; `and`/`or` have equal precedence, left to right.
func compileCompound(field string) (compiled, error) {
	toks, err := lex(field)
	if err != nil {
		return compiled{}, err
	}
	if len(toks) == 0 {
		return compiled{}, errors.New("empty expression")
	}
	p := &exprParser{toks: toks}
	n, err := p.expr(0)
	if err != nil {
		return compiled{}, err
	}
	if p.pos < len(p.toks) {
		return compiled{}, fmt.Errorf("unexpected %q", p.toks[p.pos].text)
	}
	return compiled{n: n, dataFunc: p.dataFunc, mixed: p.mixed}, nil
}

func lex(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == ' ' || c == '\t':
			i++
			continue
		case c == '(':
			toks = append(toks, token{tokLParen, "("})
			i++
			continue
		case c == ')':
			toks = append(toks, token{tokRParen, ")"})
			i++
			continue
		case c == '!' && (i+1 == len(s) || s[i+1] != '='):
			toks = append(toks, token{tokNot, "!"})
			i++
			continue
		}
		n, data, err := scanWord(s[i:])
		if err != nil {
			return nil, err
		}
		w := s[i : i+n]
		i += n
		switch {
		case w == "and":
			toks = append(toks, token{tokAnd, w})
		case w == "or":
			toks = append(toks, token{tokOr, w})
		case w == "not":
			toks = append(toks, token{tokNot, w})
		case data:
			toks = append(toks, token{tokData, w})
		default:
			toks = append(toks, token{tokOperand, w})
		}
	}
	return toks, nil
}

// scanWord returns the length of the operand at the start of s (never 0
// for a non-empty s not starting with a separator) and whether it holds a
// data-function call `name(args)…`. A /regex/ at the start of the word or
// right after `=`/`~` is read whole, so it may contain spaces and
// parentheses.
func scanWord(s string) (n int, data bool, err error) {
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == ')':
			return i, data, nil
		case c == '/' && (i == 0 || s[i-1] == '=' || s[i-1] == '~'):
			j := strings.IndexByte(s[i+1:], '/')
			if j < 0 {
				return 0, false, fmt.Errorf("unterminated regular expression in %q", s)
			}
			i += j + 2
		case c == '(':
			ident := s[:i]
			if data || !isIdent(ident) || ident == "and" || ident == "or" || ident == "not" {
				return i, data, nil
			}
			end := matchParen(s[i:])
			if end < 0 {
				return 0, false, fmt.Errorf("unbalanced parenthesis in data function %q", s)
			}
			i += end + 1
			data = true
		default:
			i++
		}
	}
	return i, data, nil
}

// matchParen returns the index of the ')' closing the '(' at s[0], or -1.
func matchParen(s string) int {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

type exprParser struct {
	toks     []token
	pos      int
	dataFunc string
	mixed    bool
}

// expr parses unary (("and"|"or") unary)*.
func (p *exprParser) expr(depth int) (node, error) {
	first, err := p.unary(depth)
	if err != nil {
		return nil, err
	}
	seq := &seqNode{first: first}
	sawAnd, sawOr := false, false
	for p.pos < len(p.toks) && p.toks[p.pos].kind != tokRParen {
		t := p.toks[p.pos]
		if t.kind != tokAnd && t.kind != tokOr {
			return nil, fmt.Errorf("expected 'and' or 'or' before %q", t.text)
		}
		p.pos++
		x, err := p.unary(depth)
		if err != nil {
			return nil, err
		}
		sawAnd = sawAnd || t.kind == tokAnd
		sawOr = sawOr || t.kind == tokOr
		seq.rest = append(seq.rest, seqStep{and: t.kind == tokAnd, x: x})
	}
	if sawAnd && sawOr {
		p.mixed = true
	}
	if len(seq.rest) == 0 {
		return first, nil
	}
	return seq, nil
}

func (p *exprParser) unary(depth int) (node, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("expression nested deeper than %d", maxDepth)
	}
	if p.pos == len(p.toks) {
		return nil, errors.New("expression ends where an operand is expected")
	}
	t := p.toks[p.pos]
	p.pos++
	switch t.kind {
	case tokNot:
		x, err := p.unary(depth + 1)
		if err != nil {
			return nil, err
		}
		return notNode{x}, nil
	case tokLParen:
		x, err := p.expr(depth + 1)
		if err != nil {
			return nil, err
		}
		if p.pos == len(p.toks) || p.toks[p.pos].kind != tokRParen {
			return nil, errors.New("missing ')'")
		}
		p.pos++
		return x, nil
	case tokData:
		if p.dataFunc == "" {
			p.dataFunc = t.text
		}
		return dataNode{t.text}, nil
	case tokOperand:
		return operand(t.text)
	}
	return nil, fmt.Errorf("unexpected %q where an operand is expected", t.text)
}

// operand compiles a fact test, /class regex/ or class name.
func operand(t string) (node, error) {
	if protocol.IsRegex(t) || !looksLikeFact(t) {
		return classOperand(t)
	}
	f, err := parseFact(t)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", t, err)
	}
	return factNode{f}, nil
}
