package compound

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/tuttifleet/tutti/connector/protocol"
)

// withSpec is the compiled argument of with(): a fact test, a class or
// agent regex, or a class or agent name.
type withSpec struct {
	fact *protocol.FactFilter
	re   *regexp.Regexp
	name string
}

// withRegex reports whether compileWith(s) compiles a regular expression.
func withRegex(s string) bool {
	s = strings.TrimSpace(s)
	return protocol.IsRegex(s) || strings.Contains(s, "=~")
}

func compileWith(s string) (*withSpec, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("with() needs a fact test, class or agent")
	}
	if protocol.IsRegex(s) {
		re, err := protocol.CompileNameRegex(s)
		if err != nil {
			return nil, err
		}
		return &withSpec{re: re}, nil
	}
	if strings.ContainsAny(s, "=<>") {
		ff, err := protocol.ParseFactTest(s)
		if err != nil {
			return nil, err
		}
		if ff.Operator == "=~" {
			if _, err := protocol.CompileRegex(ff.Value); err != nil {
				return nil, err
			}
		}
		return &withSpec{fact: &ff}, nil
	}
	return &withSpec{name: s}, nil
}

func (w *withSpec) match(env Env) (bool, error) {
	switch {
	case w.fact != nil:
		v, ok := env.Fact(w.fact.Fact)
		return protocol.MatchFact(v, ok, *w.fact)
	case w.re != nil:
		if env.MatchClass(w.re) {
			return true, nil
		}
		for _, a := range env.Agents() {
			if w.re.MatchString(a) {
				return true, nil
			}
		}
		return false, nil
	}
	return env.HasClass(w.name) || env.HasAgent(w.name), nil
}

func (n *callNode) eval(env Env) (any, error) {
	var args []any
	if n.with == nil {
		args = make([]any, len(n.args))
		for i, a := range n.args {
			v, err := a.eval(env)
			if err != nil {
				return nil, err
			}
			args[i] = v
		}
	}
	switch n.name {
	case "with":
		w := n.with
		if w == nil {
			s, ok := args[0].(string)
			if !ok {
				return nil, fmt.Errorf("with() at position %d needs a string, not %s", n.pos, describe(args[0]))
			}
			var err error
			if w, err = compileWith(s); err != nil {
				return nil, fmt.Errorf("with() at position %d: %w", n.pos, err)
			}
		}
		return w.match(env)
	case "fact":
		s, ok := args[0].(string)
		if !ok {
			return nil, fmt.Errorf("fact() at position %d needs a string, not %s", n.pos, describe(args[0]))
		}
		v, _ := env.Fact(s)
		return normalize(v), nil
	case "include":
		if args[0] == nil {
			return false, nil
		}
		switch args[0].(type) {
		case []any, []string:
		default:
			return nil, fmt.Errorf("include() at position %d needs a list, not %s", n.pos, describe(args[0]))
		}
		return contains(args[0], args[1]), nil
	case "identity":
		return env.Identity(), nil
	}
	return nil, fmt.Errorf("%w %s() at position %d", ErrUnknownFunction, n.name, n.pos)
}

func contains(list, v any) bool {
	if l, ok := list.([]string); ok {
		s, isStr := v.(string)
		if !isStr {
			return false
		}
		for _, x := range l {
			if x == s {
				return true
			}
		}
		return false
	}
	for _, x := range toList(list) {
		if equal(normalize(x), v) {
			return true
		}
	}
	return false
}

func equal(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case float64:
		y, ok := b.(float64)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	}
	return false // lists and maps are never equal to anything
}

func (n *cmpNode) eval(env Env) (any, error) {
	l, err := n.l.eval(env)
	if err != nil {
		return nil, err
	}
	r, err := n.r.eval(env)
	if err != nil {
		return nil, err
	}
	switch n.op {
	case "==":
		return equal(l, r), nil
	case "!=":
		return !equal(l, r), nil
	case "in":
		switch c := r.(type) {
		case nil:
			return false, nil
		case map[string]any:
			s, ok := l.(string)
			_, has := c[s]
			return ok && has, nil
		case []any, []string:
			return contains(c, l), nil
		}
		return nil, fmt.Errorf("in needs a list or map on the right, not %s", describe(r))
	case "matches", "=~":
		return n.match(l, r)
	}
	return order(n.op, l, r)
}

func (n *cmpNode) match(l, r any) (any, error) {
	re := n.re
	if re == nil {
		p, ok := r.(string)
		if !ok {
			return nil, fmt.Errorf("%s needs a string pattern, not %s", n.op, describe(r))
		}
		var err error
		if re, err = compilePattern(n.op, p); err != nil {
			return nil, err
		}
	}
	switch x := l.(type) {
	case nil:
		return false, nil
	case string:
		return re.MatchString(x), nil
	case float64:
		return re.MatchString(strconv.FormatFloat(x, 'f', -1, 64)), nil
	case bool:
		return re.MatchString(strconv.FormatBool(x)), nil
	}
	return nil, fmt.Errorf("%s needs a string on the left, not %s", n.op, describe(l))
}

// order implements < > <= >=: numbers numerically, strings lexically; a
// missing (nil) operand is false; other mixes are errors.
func order(op string, l, r any) (any, error) {
	if l == nil || r == nil {
		return false, nil
	}
	var c int
	switch x := l.(type) {
	case float64:
		y, ok := r.(float64)
		if !ok {
			return nil, fmt.Errorf("cannot compare %s %s %s", describe(l), op, describe(r))
		}
		switch {
		case x < y:
			c = -1
		case x > y:
			c = 1
		case x != y: // NaN
			return false, nil
		}
	case string:
		y, ok := r.(string)
		if !ok {
			return nil, fmt.Errorf("cannot compare %s %s %s", describe(l), op, describe(r))
		}
		c = strings.Compare(x, y)
	default:
		return nil, fmt.Errorf("cannot compare %s %s %s", describe(l), op, describe(r))
	}
	switch op {
	case "<":
		return c < 0, nil
	case ">":
		return c > 0, nil
	case "<=":
		return c <= 0, nil
	}
	return c >= 0, nil
}
