package compound

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// testEnv is a node with a few facts, classes and agents.
type testEnv struct {
	facts   map[string]any
	classes []string
	agents  []string
}

func (e *testEnv) Fact(path string) (any, bool) {
	var cur any = e.facts
	for _, seg := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[seg]; !ok {
			return nil, false
		}
	}
	return cur, true
}
func (e *testEnv) HasClass(name string) bool { return slices.Contains(e.classes, name) }
func (e *testEnv) MatchClass(re *regexp.Regexp) bool {
	return slices.ContainsFunc(e.classes, re.MatchString)
}
func (e *testEnv) HasAgent(name string) bool { return slices.Contains(e.agents, name) }
func (e *testEnv) Identity() string          { return "web1.example.net" }
func (e *testEnv) Facts() map[string]any     { return e.facts }
func (e *testEnv) Classes() []string         { return e.classes }
func (e *testEnv) Agents() []string          { return e.agents }

func newEnv() *testEnv {
	return &testEnv{
		facts: map[string]any{
			"role":     "web",
			"country":  "uk",
			"cpus":     float64(4),
			"load":     1.5,
			"virtual":  false,
			"os":       map[string]any{"family": "Debian", "release": map[string]any{"major": "12"}},
			"ips":      []any{"10.0.0.1", "10.0.0.2"},
			"nothing":  nil,
			"version":  "1.10",
			"hostname": "web1",
		},
		classes: []string{"role::web", "apache", "profile::base"},
		agents:  []string{"rpcutil", "service", "puppet"},
	}
}

func TestEval(t *testing.T) {
	cases := []struct {
		src  string
		want bool
	}{
		// Choria expr forms
		{`with('role=web')`, true},
		{`with('role=db')`, false},
		{`with('apache')`, true},
		{`with('APACHE')`, false}, // names are case-sensitive, as on Choria
		{`with('/^ROLE::/')`, false},
		{`with('/^RPC/')`, false},
		{`with('rpcutil')`, true},
		{`with('/^role::/')`, true},
		{`with('/^pupp/')`, true}, // agent regex
		{`with('/^nope/')`, false},
		{`with('cpus>=4') && with('cpus<5')`, true},
		{`with('load>1.5')`, false}, // float > is not >= (W15)
		{`with('load>=1.5')`, true},
		{`with('os.family=~^deb')`, true},
		{`fact('os.family') == 'Debian'`, true},
		{`fact('os.family') == 'debian'`, false}, // expression strings compare exactly
		{`fact('cpus') == 4`, true},
		{`fact('cpus') == '4'`, false},
		{`fact('cpus') > 3.5`, true},
		{`fact('missing') == nil`, true},
		{`fact('missing') > 3`, false},
		{`facts.os.family == "Debian"`, true},
		{`facts.os.release.major == "12"`, true},
		{`facts['os']['family'] == 'Debian'`, true},
		{`facts.ips[1] == '10.0.0.2'`, true},
		{`facts.ips[-1] == '10.0.0.2'`, true},
		{`facts.ips[5] == nil`, true},
		{`fact('os').family == 'Debian'`, true},
		{`facts.nope.deeper == nil`, true},
		{`facts.role.x == nil`, true},
		{`include(classes, 'apache')`, true},
		{`include(classes, 'nginx')`, false},
		{`include(agents, 'puppet')`, true},
		{`include(fact('ips'), '10.0.0.1')`, true},
		{`include(fact('missing'), 'x')`, false},
		{`'apache' in classes`, true},
		{`'os' in facts`, true},
		{`'nope' in facts`, false},
		{`fact('hostname') matches '^web\d+$'`, true},
		{`fact('hostname') matches '^WEB'`, false}, // matches is case-sensitive
		{`fact('hostname') =~ '^WEB'`, true},       // =~ is not
		{`fact('hostname') =~ '/^web/'`, true},
		{`fact('cpus') matches '^4$'`, true},
		{`identity() == 'web1.example.net'`, true},
		{`fact('version') < '1.9'`, true}, // strings compare lexically
		{`fact('virtual') == false`, true},
		{`true`, true},
		{`false`, false},
		{`!false`, true},
		{`not true`, false},
		{`!!true`, true},
		// bare MCollective-style statements
		{`role=web`, true},
		{`role=db`, false},
		{`role!=db`, true},
		{`cpus>=4`, true},
		{`cpus>4`, false},
		{`cpus=>4`, true},
		{`os.family=~^deb`, true},
		{`os.family=/^deb/`, true},
		{`apache`, true},
		{`Apache`, false}, // class names are case-sensitive, as on Choria
		{`nginx`, false},
		{`role::web`, true},
		{`/^role::/`, true},
		{`/^ROLE::/`, false}, // class regexes are case-sensitive, as on Choria
		{`/^db/`, false},
		{`role=web and not /^db/`, true},
		{`role=web and country=uk`, true},
		{`(role=web and country=uk) or not /^role::db/`, true},
		{`(role=db and country=uk) or not /^role::web/`, false},
		{`!role=db`, true},
		{`(role=web)`, true},
		{`role=web&&country=uk`, true},
		{`role=db||apache`, true},
		{`missing=1`, false},
		{`not missing=1`, true}, // a missing fact is false, and not of that is true
		// precedence: not > and > or
		{`true || false && false`, true},
		{`(true || false) && false`, false},
		{`false && false || true`, true},
		{`not false and false`, false},
		{`not (false and false)`, true},
		{`false or true and true`, true}, // discovery uses the usual precedence, not AAA's left to right
		{`nginx or apache and role=web`, true},
		// short-circuit: the right side is not evaluated
		{`false && fact('cpus') > 'x'`, false},
		{`true || fact('cpus') > 'x'`, true},
	}
	env := newEnv()
	for _, c := range cases {
		t.Run(c.src, func(t *testing.T) {
			e, err := Parse(c.src)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got, err := e.Eval(env)
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			if got != c.want {
				t.Fatalf("Eval(%s) = %v, want %v (canonical %s)", c.src, got, c.want, e)
			}
		})
	}
}

func TestEvalErrors(t *testing.T) {
	cases := []struct {
		src     string
		wantErr string
		is      error
	}{
		{`puppet_enabled()`, "unknown function puppet_enabled() at position 0", ErrUnknownFunction},
		{`not puppet().enabled == false`, "unknown function puppet()", ErrUnknownFunction},
		{`true || nope()`, "unknown function nope()", ErrUnknownFunction},
		{`fact('role')`, "not a boolean", nil},
		{`facts`, "not a boolean", nil},
		{`fact('cpus') > 'x'`, "cannot compare a number (4) > a string", nil},
		{`fact('role') && true`, "&& needs booleans, not a string", nil},
		{`!fact('role')`, "! needs a boolean", nil},
		{`with(fact('cpus'))`, "with() at position 0 needs a string", nil},
		{`with(fact('role') + 'x')`, "", nil}, // parse error, checked below
		{`include(fact('role'), 'x')`, "include() at position 0 needs a list", nil},
		{`'x' in fact('role')`, "in needs a list or map", nil},
		{`fact('role').x == 1`, "cannot read a member of a string", nil},
		{`fact('role') matches fact('os')`, "needs a string pattern", nil},
		{`fact('role') matches '('`, "", nil},
		{`fact('os') matches 'x'`, "needs a string on the left, not a map", nil},
		{`with(fact('hostname') )`, "", nil},
	}
	env := newEnv()
	for _, c := range cases {
		t.Run(c.src, func(t *testing.T) {
			e, err := Parse(c.src)
			if c.wantErr == "" {
				// either a parse error or an eval outcome without error is
				// acceptable here; the case documents the input is safe.
				if err == nil {
					_, _ = e.Eval(env)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got, err := e.Eval(env)
			if got {
				t.Errorf("Eval = true, want false")
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("Eval error = %v, want it to contain %q", err, c.wantErr)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, c.is)
			}
		})
	}
}

func TestUnknownFunctions(t *testing.T) {
	e, err := Parse(`a() or b(1, 2) and with('x')`)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.UnknownFunctions(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("UnknownFunctions = %v", got)
	}
}

func TestSyntaxErrors(t *testing.T) {
	cases := []struct {
		src string
		pos int
		msg string
	}{
		{``, 0, "empty expression"},
		{`   `, 3, "empty expression"},
		{`role=web and`, 12, "unexpected end"},
		{`role=web and )`, 13, `unexpected ")"`},
		{`(role=web`, 9, "missing ')' (the '(' opened at position 0)"},
		{`with('x'`, 8, "missing ')' (the call of with opened at position 0)"},
		{`fact('x') = 'y'`, 10, "use == to compare"},
		{`'abc`, 0, "unterminated string"},
		{`role=web and 'abc`, 13, "unterminated string"},
		{`/abc`, 0, "unterminated /regular"},
		{`//`, 0, "empty class regular"},
		{`/a(/`, 0, "invalid regular expression"},
		{`os=~a(`, 6, "unbalanced '('"},
		{`os=~[a`, 0, "invalid regular expression"},
		{`role= and x`, 0, "invalid fact test"},
		{`with('a=~(')`, 5, "invalid regular expression"},
		{`with('')`, 5, "with() needs"},
		{`with(1)`, 5, "with() needs a string"},
		{`with('a', 'b')`, 0, "with() takes 1 argument(s), got 2"},
		{`include(classes)`, 0, "include() takes 2"},
		{`identity(1)`, 0, "identity() takes 0"},
		{`role == 'web'`, 0, "not a value"},
		{`fact('x') == apache`, 13, "not a value"},
		{`apache and`, 10, "unexpected end"},
		{`and apache`, 0, `unexpected keyword "and"`},
		{`true false`, 5, `unexpected "false"`},
		{`fact('a') == 1 == 1`, 15, `unexpected "="`},
		{`classes.x`, 7, "classes is a list"},
		{`facts..a == 1`, 0, "invalid fact path"},
		{`fact('a').`, 10, "expected a field name"},
		{`facts['a' == 1`, 14, "expected ']'"},
		{`fact('a') matches 1`, 18, "must be a string"},
		{`fact('a') matches '('`, 18, "invalid regular expression"},
		{`#`, 0, `unexpected "#"`},
		{`role=web é`, 9, `unexpected "é"`},
		{strings.Repeat("(", 300) + "true" + strings.Repeat(")", 300), 200, "nested more than"},
		{strings.Repeat("!", 300) + "true", 200, "nested more than"},
	}
	for _, c := range cases {
		t.Run(c.src, func(t *testing.T) {
			_, err := Parse(c.src)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse error = %v (%T), want *SyntaxError", err, err)
			}
			if se.Pos != c.pos || !strings.Contains(se.Msg, c.msg) {
				t.Fatalf("got pos %d msg %q, want pos %d msg containing %q", se.Pos, se.Msg, c.pos, c.msg)
			}
		})
	}
}

func TestSyntaxErrorCaret(t *testing.T) {
	_, err := Parse("role=web and (país or )")
	want := "invalid compound expression: unexpected \")\" at position 23\n" +
		"  role=web and (país or )\n" +
		"  " + strings.Repeat(" ", 22) + "^" // 22 runes before the ')'; í is two bytes
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n%v\nwant:\n%s", err, want)
	}
}

func TestString(t *testing.T) {
	cases := []struct{ src, want string }{
		{`with('role=web') and fact('os.family') == 'linux'`, `(with("role=web") && (fact("os.family") == "linux"))`},
		{`a or b and not c`, `(a || (b && !c))`},
		{`role=web and not /^db/`, `(role=web && !/^db/)`},
		{`facts.os.family matches '^de\d' || 'x' in classes`, `((facts.os.family matches "^de\\d") || ("x" in classes))`},
		{`fact('a')['b'].c == -1.5`, `(fact("a")["b"].c == -1.5)`},
		{`(os=~^(deb|ubu))`, `os=~^(deb|ubu)`},
		{`'it''s'`, ``},
	}
	for _, c := range cases {
		t.Run(c.src, func(t *testing.T) {
			e, err := Parse(c.src)
			if c.want == "" {
				if err == nil {
					t.Fatalf("Parse(%s) succeeded, want error", c.src)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := e.String(); got != c.want {
				t.Fatalf("String = %s, want %s", got, c.want)
			}
			again, err := Parse(e.String())
			if err != nil || again.String() != c.want {
				t.Fatalf("reparse: %v, %v", again, err)
			}
		})
	}
}

func TestConcurrentEval(t *testing.T) {
	e, err := Parse(`with('role=web') && fact('os.family') =~ '^deb' && /^role/`)
	if err != nil {
		t.Fatal(err)
	}
	env := newEnv()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if ok, err := e.Eval(env); !ok || err != nil {
					t.Errorf("Eval = %v, %v", ok, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`with('role=web') && fact('os.family') == 'linux'`,
		`(role=web and country=uk) or not /^role::db/`,
		`facts.os.family matches '^de' || 'x' in classes`,
		`include(fact("ips"), '10.0.0.1') and cpus>=4`,
		`fact('a')['b'].c == -1.5`, `os=~^(deb|ubu)`, `"a\"b" == 'c\\d'`,
	} {
		f.Add(s)
	}
	env := newEnv()
	f.Fuzz(func(t *testing.T, src string) {
		e, err := Parse(src)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is %T, not *SyntaxError", err, err)
			}
			if se.Pos < 0 || se.Pos > len(src) {
				t.Fatalf("Pos %d outside [0,%d]", se.Pos, len(src))
			}
			_ = se.Error()
			return
		}
		ok, evalErr := e.Eval(env)
		if ok && evalErr != nil {
			t.Fatalf("Eval = true with error %v", evalErr)
		}
		canon := e.String()
		again, err := Parse(canon)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", canon, src, err)
		}
		if again.String() != canon {
			t.Fatalf("canonical form not stable: %q → %q", canon, again.String())
		}
		ok2, err2 := again.Eval(env)
		if ok != ok2 || (evalErr == nil) != (err2 == nil) {
			t.Fatalf("%q and its canonical form %q evaluate differently", src, canon)
		}
	})
}
