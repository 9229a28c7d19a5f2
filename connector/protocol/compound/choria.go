package compound

import (
	"sort"
	"strings"

	"github.com/tuttifleet/tutti/connector/protocol"
)

// span is a byte range [start, end) of the source.
type span struct{ start, end int }

// ChoriaForm returns the expression as Choria's nodes evaluate it. Choria
// compiles compound filters with expr-lang, which has no bare
// MCollective statements: each bare fact test, class name and /class re/
// is rewritten in place as with('...'), whose argument Choria (and tutti)
// read as a fact test, a class or agent name, or a class or agent /re/.
// Everything else is kept as written, so
//
//	role=web and not /^db/  →  with('role=web') and not with('/^db/')
//
// Fact tests are written in canonical form, the one spelling both parsers
// read alike: name=value for equality, name<op>value otherwise ("=>" is
// written ">=", "=<" "<=", and name=/re/ "name=~/re/"), or as written when
// only that spelling reads back as the same test. The rewrite widens a bare
// class name or /re/ to agents too, as with() does on both systems.
// An expression without bare statements is returned unchanged.
func (e *Expr) ChoriaForm() string {
	var stmts []node
	walk(e.root, func(n node) {
		if isStatement(n) && rewritable(n) {
			stmts = append(stmts, n)
		}
	})
	if len(stmts) == 0 {
		return e.src
	}
	sort.Slice(stmts, func(i, j int) bool { return spanOf(stmts[i]).start < spanOf(stmts[j]).start })
	var b strings.Builder
	at := 0
	for _, n := range stmts {
		s := spanOf(n)
		b.WriteString(e.src[at:s.start])
		if s.start > 0 && isWordChar(e.src[s.start-1]) {
			b.WriteByte(' ') // "or/re/" must not become "orwith(...)"
		}
		b.WriteString("with(")
		b.WriteString(singleQuote(withArg(n)))
		b.WriteString(")")
		at = s.end
	}
	b.WriteString(e.src[at:])
	return b.String()
}

func stmtText(n node) string {
	switch n := n.(type) {
	case *factTestNode:
		return n.text
	case *classNode:
		return n.text
	case *classRegexNode:
		return n.text
	}
	return ""
}

func spanOf(n node) span {
	switch n := n.(type) {
	case *factTestNode:
		return n.span
	case *classNode:
		return n.span
	case *classRegexNode:
		return n.span
	}
	return span{}
}

// withArg is the argument of with() for a bare statement.
func withArg(n node) string {
	switch n := n.(type) {
	case *factTestNode:
		canon := n.ff.Fact + n.ff.Operator + n.ff.Value
		if n.ff.Operator == "==" {
			canon = n.ff.Fact + "=" + n.ff.Value
		}
		for _, s := range []string{canon, n.text} {
			if ff, err := protocol.ParseFactTest(strings.TrimSpace(s)); err == nil && ff == n.ff {
				return s
			}
		}
		return "" // no spelling reads back as the same test
	case *classNode:
		return n.text
	case *classRegexNode:
		return n.text
	}
	return ""
}

// rewritable reports whether with() reads the statement's argument back
// unchanged: both systems trim white space around it, so a statement
// with white space at an end (a value of "\v") stays bare, and
// ChoriaUnsupported names it.
func rewritable(n node) bool {
	a := withArg(n)
	return a != "" && strings.TrimSpace(a) == a
}

// singleQuote writes s as a single-quoted string that expr-lang and
// parseString both read back unchanged.
func singleQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`, "\t", `\t`, "\r", `\r`).Replace(s) + "'"
}

// walk calls f on n and every node under it, depth first.
func walk(n node, f func(node)) {
	f(n)
	switch n := n.(type) {
	case *memberNode:
		walk(n.x, f)
		walk(n.key, f)
	case *callNode:
		for _, a := range n.args {
			walk(a, f)
		}
	case *notNode:
		walk(n.x, f)
	case *logicNode:
		walk(n.l, f)
		walk(n.r, f)
	case *cmpNode:
		walk(n.l, f)
		walk(n.r, f)
	}
}

// ChoriaUnsupported lists the parts of the expression that tutti's nodes
// evaluate and Choria's nodes do not (after ChoriaForm): on Choria they
// fail to compile or to run, and the node stays silent. Each entry names
// the construct as written and why; nil when Choria evaluates it all.
func (e *Expr) ChoriaUnsupported() []string {
	var out []string
	add := func(s string) {
		for _, x := range out {
			if x == s {
				return
			}
		}
		out = append(out, s)
	}
	walk(e.root, func(n node) {
		if isStatement(n) && !rewritable(n) {
			add(stmtText(n) + ": a statement with() cannot spell (white space at an end, or operators in its value)")
		}
		switch n := n.(type) {
		case *factPathNode:
			add("facts." + n.path + ": Choria cannot read fact members; use fact('" + n.path + "')")
		case *memberNode:
			if v, ok := n.x.(*varNode); ok && v.name == "facts" {
				add("facts[...]: Choria cannot read fact members; use fact('name')")
			}
		case *callNode:
			switch {
			case n.name == "identity":
				add("identity(): a tutti extension Choria does not have; use -I")
			case n.name == "include" && len(n.args) > 0 && isListVar(n.args[0]):
				add("include(" + n.args[0].(*varNode).name + ", ...): Choria's include() takes fact lists only; use with('name')")
			}
		case *cmpNode:
			if n.op == "=~" {
				add("=~ between values: Choria has no =~ operator; use matches, or a fact test like with('name=~/re/')")
			}
		}
	})
	return out
}

func isListVar(n node) bool {
	v, ok := n.(*varNode)
	return ok && (v.name == "classes" || v.name == "agents")
}
