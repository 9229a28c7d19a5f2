package client

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/connector/protocol/compound"
)

// FilterOptions are the CLI's selection flags. Each field holds the
// values of one repeatable flag, as typed.
type FilterOptions struct {
	Identity []string // -I: exact identity or /regex/
	Class    []string // -C: class name or /regex/
	Fact     []string // -F: fact test, name<op>value
	Agent    []string // -A: agent name or /regex/
	Select   []string // -S: compound expression
	With     []string // -W: space-separated mix of fact tests and classes
}

var (
	filterIdentityRe = regexp.MustCompile(`^[\w.\-]+$`)
	filterAgentRe    = regexp.MustCompile(`^[a-z0-9_]+$`)
)

// BuildFilter validates the selection flags and turns them into a
// request filter. Every list is non-nil so the filter encodes as Choria's
// schema wants ([] rather than null). Errors name the flag and the value;
// a -S syntax error wraps a *compound.SyntaxError that points at the
// position.
func BuildFilter(o FilterOptions) (protocol.Filter, error) {
	f := protocol.Filter{
		Fact:     []protocol.FactFilter{},
		CFClass:  []string{},
		Agent:    []string{},
		Identity: []string{},
		Compound: [][]protocol.CompoundEntry{},
	}
	for _, id := range o.Identity {
		if err := checkName(id, filterIdentityRe, "letters, digits, '_', '.' and '-'"); err != nil {
			return protocol.Filter{}, fmt.Errorf("-I %q: %w", id, err)
		}
		f.Identity = append(f.Identity, id)
	}
	for _, a := range o.Agent {
		if err := checkName(a, filterAgentRe, "lower-case letters, digits and '_'"); err != nil {
			return protocol.Filter{}, fmt.Errorf("-A %q: %w", a, err)
		}
		f.Agent = append(f.Agent, a)
	}
	for _, c := range o.Class {
		if err := addClass(&f, c); err != nil {
			return protocol.Filter{}, fmt.Errorf("-C %q: %w", c, err)
		}
	}
	for _, s := range o.Fact {
		if err := addFact(&f, s); err != nil {
			return protocol.Filter{}, fmt.Errorf("-F %q: %w", s, err)
		}
	}
	for _, w := range o.With {
		for _, tok := range strings.Fields(w) {
			add := addClass
			if !protocol.IsRegex(tok) && strings.ContainsAny(tok, "=<>") {
				add = addFact
			}
			if err := add(&f, tok); err != nil {
				return protocol.Filter{}, fmt.Errorf("-W %q: %w", tok, err)
			}
		}
	}
	for _, src := range o.Select {
		x, err := compound.Parse(src)
		if err != nil {
			return protocol.Filter{}, fmt.Errorf("-S: %w", err)
		}
		f.Compound = append(f.Compound, []protocol.CompoundEntry{{Expr: wireForm(x)}})
	}
	return f, nil
}

// wireForm is the text of a -S expression on the wire: its Choria form
// (bare MCollective statements as with('...'), compound.Expr.ChoriaForm),
// which Choria's nodes compile and tutti's evaluate alike; the expression
// as typed when its Choria form is over a parser limit.
func wireForm(x *compound.Expr) string {
	s := x.ChoriaForm()
	if s == x.Source() {
		return s
	}
	if _, err := compound.Parse(s); err != nil {
		return x.Source()
	}
	return s
}

// ChoriaWarnings lists the parts of the selection that tutti's nodes
// evaluate one way and Choria's nodes another, or not at all: -S
// constructs Choria rejects (compound.Expr.ChoriaUnsupported; a Choria
// node stays silent) and fact regular expressions, case-insensitive on
// tutti's nodes and case-sensitive on Choria's. The CLI prints them in a
// fleet configured as mixed (docs/cli.md). Options that do not parse
// give no warning: BuildFilter reports them.
func ChoriaWarnings(o FilterOptions) []string {
	var out []string
	for _, src := range o.Select {
		x, err := compound.Parse(src)
		if err != nil {
			continue
		}
		for _, u := range x.ChoriaUnsupported() {
			out = append(out, fmt.Sprintf("-S %q: %s", src, u))
		}
	}
	facts := slices.Clone(o.Fact)
	for _, w := range o.With {
		facts = append(facts, strings.Fields(w)...)
	}
	for _, s := range facts {
		if ft, err := protocol.ParseFactTest(s); err == nil && ft.Operator == "=~" {
			out = append(out, fmt.Sprintf("%q: fact regular expressions are case-insensitive on tutti nodes and case-sensitive on Choria's", s))
		}
	}
	return out
}

// checkName accepts a name matching re or a valid /regex/.
func checkName(s string, re *regexp.Regexp, allowed string) error {
	if protocol.IsRegex(s) {
		_, err := protocol.CompileRegex(s)
		return err
	}
	if !re.MatchString(s) {
		return fmt.Errorf("must be /regex/ or a name made of %s", allowed)
	}
	return nil
}

func addClass(f *protocol.Filter, c string) error {
	if protocol.IsRegex(c) {
		if _, err := protocol.CompileRegex(c); err != nil {
			return err
		}
	} else if c == "" || strings.ContainsFunc(c, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' }) {
		return fmt.Errorf("a class name must be non-empty and have no spaces")
	}
	f.CFClass = append(f.CFClass, c)
	return nil
}

func addFact(f *protocol.Filter, s string) error {
	ft, err := protocol.ParseFactTest(s)
	if err != nil {
		return err
	}
	if ft.Operator == "=~" {
		if _, err := protocol.CompileRegex(ft.Value); err != nil {
			return err
		}
	}
	f.Fact = append(f.Fact, ft)
	return nil
}

// IdentityOnly returns the -I names when they are the only selection and
// none is a /regex/: the client can then address those nodes directly
// without a discovery round (docs/protocol.md §12).
func (o FilterOptions) IdentityOnly() (names []string, ok bool) {
	if len(o.Identity) == 0 || len(o.Class)+len(o.Fact)+len(o.Agent)+len(o.Select) > 0 {
		return nil, false
	}
	for _, w := range o.With {
		if strings.TrimSpace(w) != "" {
			return nil, false
		}
	}
	for _, id := range o.Identity {
		if protocol.IsRegex(id) || !filterIdentityRe.MatchString(id) {
			return nil, false
		}
	}
	return append([]string(nil), o.Identity...), true
}
