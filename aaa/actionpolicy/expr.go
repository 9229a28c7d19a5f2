package actionpolicy

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/tuttifleet/tutti/connector/protocol"
)

// env is what a facts/classes expression is evaluated against.
type env struct {
	facts   protocol.FactSource
	classes ClassSource
}

// node is one compiled boolean expression. Evaluation cannot fail: every
// operand is validated when the policy is parsed.
type node interface {
	eval(e env) bool
}

type factNode struct{ f protocol.FactFilter }

func (n factNode) eval(e env) bool {
	if e.facts == nil {
		return false
	}
	v, ok := e.facts.Fact(n.f.Fact)
	m, err := protocol.MatchFact(v, ok, n.f)
	return err == nil && m
}

type classNode struct{ name string }

func (n classNode) eval(e env) bool { return e.classes != nil && e.classes.HasClass(n.name) }

type classRENode struct{ re *regexp.Regexp }

func (n classRENode) eval(e env) bool {
	if e.classes == nil {
		return false
	}
	for _, c := range e.classes.Classes() {
		if n.re.MatchString(c) {
			return true
		}
	}
	return false
}

// dataNode is a data-function test. No data plugins exist, so a rule
// holding one never matches (the rule checks this before evaluating);
// eval is only reached through a bug and then fails closed for `allow`.
type dataNode struct{ text string }

func (dataNode) eval(env) bool { return false }

type notNode struct{ x node }

func (n notNode) eval(e env) bool { return !n.x.eval(e) }

// allNode is the AND of a plain (non-compound) facts or classes list.
type allNode []node

func (n allNode) eval(e env) bool {
	for _, x := range n {
		if !x.eval(e) {
			return false
		}
	}
	return true
}

// seqNode is `a op b op c …` with `and` and `or` of equal precedence,
// evaluated left to right as Ruby does: `a or b and c` is `(a or b) and c`.
type seqNode struct {
	first node
	rest  []seqStep
}

type seqStep struct {
	and bool
	x   node
}

func (n *seqNode) eval(e env) bool {
	v := n.first.eval(e)
	for _, s := range n.rest {
		if s.and {
			v = v && s.x.eval(e)
		} else {
			v = v || s.x.eval(e)
		}
	}
	return v
}

// compiled is a compiled facts/classes field.
type compiled struct {
	n        node
	dataFunc string // first data-function test found, "" when none
	mixed    bool   // `and` and `or` mixed without parentheses
}

// isCompound reports whether a facts or classes field is one boolean
// expression (docs/actionpolicy.md §2.6): a token is `and`, `or`, `not`, starts with
// `!` or contains parentheses.
func isCompound(field string) bool {
	for _, t := range strings.Fields(field) {
		switch {
		case t == "and", t == "or", t == "not", t[0] == '!', strings.ContainsAny(t, "()"):
			return true
		}
	}
	return false
}

// compilePlainFacts compiles a non-compound facts field: fact tests ANDed.
func compilePlainFacts(field string) (compiled, error) {
	toks := strings.Fields(field)
	if len(toks) == 0 {
		return compiled{}, errors.New("empty facts field")
	}
	all := make(allNode, 0, len(toks))
	for _, t := range toks {
		f, err := parseFact(t)
		if err != nil {
			return compiled{}, fmt.Errorf("%q is not a fact test: %w", t, err)
		}
		all = append(all, factNode{f})
	}
	return compiled{n: single(all)}, nil
}

// compilePlainClasses compiles a non-compound classes field: class names
// or /regex/ ANDed.
func compilePlainClasses(field string) (compiled, error) {
	toks := strings.Fields(field)
	if len(toks) == 0 {
		return compiled{}, errors.New("empty classes field")
	}
	all := make(allNode, 0, len(toks))
	for _, t := range toks {
		if !protocol.IsRegex(t) && looksLikeFact(t) {
			return compiled{}, fmt.Errorf("%q is a fact test, not a class", t)
		}
		n, err := classOperand(t)
		if err != nil {
			return compiled{}, err
		}
		all = append(all, n)
	}
	return compiled{n: single(all)}, nil
}

func single(all allNode) node {
	if len(all) == 1 {
		return all[0]
	}
	return all
}

func looksLikeFact(t string) bool { return strings.ContainsAny(t, "=<>") }

func parseFact(t string) (protocol.FactFilter, error) {
	f, err := protocol.ParseFactTest(t)
	if err != nil {
		return f, err
	}
	if f.Operator == "=~" {
		if _, err := protocol.CompileRegex(f.Value); err != nil {
			return f, err
		}
	}
	return f, nil
}

func classOperand(t string) (node, error) {
	if protocol.IsRegex(t) {
		re, err := protocol.CompileRegex(t)
		if err != nil {
			return nil, fmt.Errorf("class regex %s: %w", t, err)
		}
		return classRENode{re}, nil
	}
	return classNode{t}, nil
}
