package compound

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestChoriaForm(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{`role=web and country=mt`, `with('role=web') and with('country=mt')`},
		{`role=web and not /^db/`, `with('role=web') and not with('/^db/')`},
		{`apache && cpus>=4`, `with('apache') && with('cpus>=4')`},
		{`(role=web or os.family=~/^lin/) and !country=uk`, `(with('role=web') or with('os.family=~/^lin/')) and !with('country=uk')`},
		{`cpus=>4 or os=/deb/`, `with('cpus>=4') or with('os=~/deb/')`},
		{`/a\.b/`, `with('/a\\.b/')`},
		{`name=it's`, `with('name=it\'s')`},
		{`with('role=web') && fact('os.family') == 'linux'`, `with('role=web') && fact('os.family') == 'linux'`},
		{`role=web and fact('cpus') > 2`, `with('role=web') and fact('cpus') > 2`},
	} {
		x, err := Parse(c.src)
		if err != nil {
			t.Fatalf("%s: %v", c.src, err)
		}
		if got := x.ChoriaForm(); got != c.want {
			t.Errorf("ChoriaForm(%s) = %s, want %s", c.src, got, c.want)
		}
	}
}

// The rewritten form must mean the same on a tutti node.
func TestChoriaFormEvaluatesAlike(t *testing.T) {
	env := newEnv()
	for _, src := range []string{
		`role=web and country=uk`, `role=web and not /^role::db/`, `apache && cpus>=4`,
		`os.family=~^deb or missing=1`, `Apache`, `/^ROLE/`, `cpus<4`, `not role=db`,
		`hostname=web1 and (virtual=false or load>2)`,
	} {
		x := mustParse(t, src)
		y := mustParse(t, x.ChoriaForm())
		a, errA := x.Eval(env)
		b, errB := y.Eval(env)
		if a != b || (errA == nil) != (errB == nil) {
			t.Errorf("%s = %v (%v) but %s = %v (%v)", src, a, errA, x.ChoriaForm(), b, errB)
		}
	}
}

func mustParse(t *testing.T, src string) *Expr {
	t.Helper()
	x, err := Parse(src)
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	return x
}

func TestChoriaUnsupported(t *testing.T) {
	for _, c := range []struct {
		src  string
		want []string // substrings, one per entry, in order
	}{
		{`role=web and with('apache') and fact('os.family') == 'linux'`, nil},
		{`include(fact('ips'), '10.0.0.1') and 'apache' in classes`, nil},
		{`fact('os') matches '^deb'`, nil},
		{`facts.os.family == 'linux'`, []string{"facts.os.family"}},
		{`facts['os'] != nil`, []string{"facts[...]"}},
		{`include(classes, 'apache') or include(agents, 'puppet')`, []string{"include(classes", "include(agents"}},
		{`identity() == 'web1'`, []string{"identity()"}},
		{`fact('os') =~ 'deb'`, []string{"=~ between values"}},
	} {
		got := mustParse(t, c.src).ChoriaUnsupported()
		if len(got) != len(c.want) {
			t.Errorf("%s: %q, want %d entries", c.src, got, len(c.want))
			continue
		}
		for i, w := range c.want {
			if !strings.Contains(got[i], w) {
				t.Errorf("%s: entry %d %q does not name %q", c.src, i, got[i], w)
			}
		}
	}
}

// FuzzChoriaForm: whatever parses has a Choria form that parses again,
// has no bare statement left that ChoriaUnsupported does not report, and
// evaluates alike on a tutti node.
func FuzzChoriaForm(f *testing.F) {
	for _, s := range []string{`role=web and country=mt`, `(a=1 or /b/) and not c`, `x=it's && fact('a') == 'b'`, `/a\'b/ or d=~/\\/`} {
		f.Add(s)
	}
	// with() widens a bare class name or /re/ to agents too: compare on
	// a node without agents.
	env := newEnv()
	env.agents = nil
	f.Fuzz(func(t *testing.T, src string) {
		x, err := Parse(src)
		if err != nil {
			return
		}
		out := x.ChoriaForm()
		y, err := Parse(out)
		if errors.Is(err, ErrLimit) {
			return // with( ) adds a level of nesting and 7 bytes
		}
		if err != nil {
			t.Fatalf("ChoriaForm(%q) = %q does not parse: %v", src, out, err)
		}
		var bare []node
		walk(y.root, func(n node) {
			if isStatement(n) {
				bare = append(bare, n)
			}
		})
		if len(bare) > 0 && len(y.ChoriaUnsupported()) == 0 {
			t.Fatalf("ChoriaForm(%q) = %q keeps bare statements it does not report", src, out)
		}
		if y.ChoriaForm() != out {
			t.Fatalf("ChoriaForm is not idempotent on %q", out)
		}
		a, errA := x.Eval(env)
		b, errB := y.Eval(env)
		if a != b || (errA == nil) != (errB == nil) {
			t.Fatalf("%q = %v (%v), %q = %v (%v)", src, a, errA, out, b, errB)
		}
		_ = slices.Clone(x.ChoriaUnsupported())
	})
}
