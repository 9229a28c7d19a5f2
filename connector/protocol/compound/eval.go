package compound

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/tuttifleet/tutti/connector/protocol"
)

// node is one element of the parsed expression tree.
type node interface {
	eval(env Env) (any, error)
	write(b *strings.Builder)
}

type call struct {
	name string
	pos  int
}

type (
	litNode struct {
		val  any // nil, bool, float64 or string
		text string
	}
	varNode      struct{ name string }
	factPathNode struct{ path string }
	memberNode   struct {
		x, key node
		dot    bool // written x.key rather than x[key]
	}
	callNode struct {
		call
		args   []node
		argPos []int
		with   *withSpec // precompiled argument of with('literal')
	}
	notNode   struct{ x node }
	logicNode struct {
		and  bool
		l, r node
	}
	cmpNode struct {
		op   string
		l, r node
		re   *regexp.Regexp // precompiled literal pattern of matches and =~
	}
	// The bare statements keep their byte span in the source
	// (ChoriaForm rewrites them in place).
	factTestNode struct {
		text string
		ff   protocol.FactFilter
		span span
	}
	classNode struct {
		text string // as written
		name string
		span span
	}
	classRegexNode struct {
		text string
		re   *regexp.Regexp
		span span
	}
)

// isStatement reports the bare MCollective-style conditions.
func isStatement(n node) bool {
	switch n.(type) {
	case *factTestNode, *classNode, *classRegexNode:
		return true
	}
	return false
}

func (n *litNode) eval(Env) (any, error)    { return n.val, nil }
func (n *litNode) write(b *strings.Builder) { b.WriteString(n.text) }
func (n *varNode) write(b *strings.Builder) { b.WriteString(n.name) }
func (n *factPathNode) write(b *strings.Builder) {
	b.WriteString("facts.")
	b.WriteString(n.path)
}

func (n *varNode) eval(env Env) (any, error) {
	switch n.name {
	case "facts":
		return env.Facts(), nil
	case "classes":
		return env.Classes(), nil
	}
	return env.Agents(), nil
}

func (n *factPathNode) eval(env Env) (any, error) {
	v, _ := env.Fact(n.path)
	return normalize(v), nil
}

func (n *memberNode) eval(env Env) (any, error) {
	x, err := n.x.eval(env)
	if err != nil {
		return nil, err
	}
	k, err := n.key.eval(env)
	if err != nil {
		return nil, err
	}
	switch c := x.(type) {
	case nil:
		return nil, nil // member of a missing value is missing
	case map[string]any:
		s, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("map key must be a string, not %s", describe(k))
		}
		return normalize(c[s]), nil
	case []any, []string:
		f, ok := k.(float64)
		if !ok || f != float64(int(f)) {
			return nil, fmt.Errorf("list index must be an integer, not %s", describe(k))
		}
		l := toList(c)
		i := int(f)
		if i < 0 {
			i += len(l)
		}
		if i < 0 || i >= len(l) {
			return nil, nil
		}
		return normalize(l[i]), nil
	}
	return nil, fmt.Errorf("cannot read a member of %s", describe(x))
}

func (n *memberNode) write(b *strings.Builder) {
	n.x.write(b)
	if lit, ok := n.key.(*litNode); ok && n.dot {
		b.WriteByte('.')
		b.WriteString(lit.val.(string))
		return
	}
	b.WriteByte('[')
	n.key.write(b)
	b.WriteByte(']')
}

func (n *notNode) eval(env Env) (any, error) {
	v, err := n.x.eval(env)
	if err != nil {
		return nil, err
	}
	bv, ok := v.(bool)
	if !ok {
		return nil, fmt.Errorf("! needs a boolean, not %s", describe(v))
	}
	return !bv, nil
}

func (n *notNode) write(b *strings.Builder) {
	b.WriteByte('!')
	n.x.write(b)
}

func (n *logicNode) eval(env Env) (any, error) {
	op := "||"
	if n.and {
		op = "&&"
	}
	l, err := evalBool(n.l, env, op)
	if err != nil {
		return nil, err
	}
	if l != n.and { // false && …, true || …
		return l, nil
	}
	return evalBool(n.r, env, op)
}

func evalBool(n node, env Env, op string) (bool, error) {
	v, err := n.eval(env)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("%s needs booleans, not %s", op, describe(v))
	}
	return b, nil
}

func (n *logicNode) write(b *strings.Builder) {
	b.WriteByte('(')
	n.l.write(b)
	if n.and {
		b.WriteString(" && ")
	} else {
		b.WriteString(" || ")
	}
	n.r.write(b)
	b.WriteByte(')')
}

func (n *cmpNode) write(b *strings.Builder) {
	b.WriteByte('(')
	n.l.write(b)
	b.WriteByte(' ')
	b.WriteString(n.op)
	b.WriteByte(' ')
	n.r.write(b)
	b.WriteByte(')')
}

func (n *factTestNode) eval(env Env) (any, error) {
	v, ok := env.Fact(n.ff.Fact)
	return protocol.MatchFact(v, ok, n.ff)
}

func (n *factTestNode) write(b *strings.Builder)    { b.WriteString(n.text) }
func (n *classNode) eval(env Env) (any, error)      { return env.HasClass(n.name), nil }
func (n *classNode) write(b *strings.Builder)       { b.WriteString(n.text) }
func (n *classRegexNode) eval(env Env) (any, error) { return env.MatchClass(n.re), nil }
func (n *classRegexNode) write(b *strings.Builder)  { b.WriteString(n.text) }

func (n *callNode) write(b *strings.Builder) {
	b.WriteString(n.name)
	b.WriteByte('(')
	for i, a := range n.args {
		if i > 0 {
			b.WriteString(", ")
		}
		switch a.(type) {
		case *factTestNode, *classNode, *classRegexNode:
			// a bare word ends at a space, ')' or && ||, not at ','
			// ("role=web, 'x'" would read as one fact test): parenthesised
			b.WriteByte('(')
			a.write(b)
			b.WriteByte(')')
		default:
			a.write(b)
		}
	}
	b.WriteByte(')')
}

// normalize turns the number types a FactSource may return into float64
// and []string stays as is; everything else is returned unchanged.
func normalize(v any) any {
	switch x := v.(type) {
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case json.Number:
		if f, err := x.Float64(); err == nil {
			return f
		}
		return x.String()
	}
	return v
}

func toList(v any) []any {
	switch l := v.(type) {
	case []any:
		return l
	case []string:
		out := make([]any, len(l))
		for i, s := range l {
			out[i] = s
		}
		return out
	}
	return nil
}

// describe names a value's type for error messages.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "nil"
	case bool:
		return "a boolean"
	case float64:
		return "a number (" + strconv.FormatFloat(x, 'g', -1, 64) + ")"
	case string:
		return "a string"
	case []any, []string:
		return "a list"
	case map[string]any:
		return "a map"
	}
	return fmt.Sprintf("%T", v)
}
