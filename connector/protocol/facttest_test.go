package protocol

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
)

func TestParseFactTest(t *testing.T) {
	cases := []struct {
		in            string
		fact, op, val string
		bad           bool
	}{
		{in: "role=web", fact: "role", op: "==", val: "web"},
		{in: "role==web", fact: "role", op: "==", val: "web"},
		{in: "role!=web", fact: "role", op: "!=", val: "web"},
		{in: "cpus>=8", fact: "cpus", op: ">=", val: "8"},
		{in: "cpus=>8", fact: "cpus", op: ">=", val: "8"},
		{in: "cpus=<8", fact: "cpus", op: "<=", val: "8"},
		{in: "cpus<8", fact: "cpus", op: "<", val: "8"},
		{in: "cpus>8", fact: "cpus", op: ">", val: "8"},
		{in: "os.family=~^lin", fact: "os.family", op: "=~", val: "^lin"},
		{in: "customer=/^ac/", fact: "customer", op: "=~", val: "/^ac/"},
		{in: "a=b=c", fact: "a=b", op: "==", val: "c"},
		{in: "noop", bad: true},
		{in: "=x", bad: true},
		{in: "x=", bad: true},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			f, err := ParseFactTest(c.in)
			if c.bad {
				if err == nil {
					t.Fatalf("want error, got %+v", f)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.Fact != c.fact || f.Operator != c.op || f.Value != c.val {
				t.Fatalf("got %+v", f)
			}
		})
	}
}

func TestMatchFact(t *testing.T) {
	cases := []struct {
		name  string
		value any
		ok    bool
		test  string
		want  bool
	}{
		{"string eq ci", "Web", true, "role=web", true},
		{"string ne", "web", true, "role!=db", true},
		{"missing", nil, false, "role=web", false},
		{"missing ne", nil, false, "role!=web", false},
		{"num gt", float64(16), true, "cpus>4", true},
		{"num gt equal is false", float64(4), true, "cpus>4", false},
		{"float gt equal is false", 4.5, true, "load>4.5", false},
		{"num ge", float64(4), true, "cpus>=4", true},
		{"num le", float64(4), true, "cpus<=4", true},
		{"numeric strings", "16", true, "cpus>4", true},
		{"lexical", "b", true, "x>a", true},
		{"bool true", true, true, "virtual=true", true},
		{"bool false ne", false, true, "virtual!=true", true},
		{"bool false eq false", false, true, "virtual=false", true},
		{"regex", "Linux", true, "os=~^lin", true},
		{"regex slashes", "linux", true, "os=/^LIN/", true},
		{"array never", []any{"a"}, true, "x=a", false},
		{"object never", map[string]any{"a": 1}, true, "x=a", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := ParseFactTest(c.test)
			if err != nil {
				t.Fatal(err)
			}
			got, err := MatchFact(c.value, c.ok, f)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("MatchFact(%v, %s) = %v, want %v", c.value, c.test, got, c.want)
			}
		})
	}
	if _, err := MatchFact("x", true, FactFilter{Fact: "a", Operator: "=~", Value: "("}); err == nil {
		t.Fatal("invalid regex must error")
	}
	if _, err := MatchFact("x", true, FactFilter{Fact: "a", Operator: "<>", Value: "1"}); err == nil {
		t.Fatal("unknown operator must error")
	}
}

func FuzzParseFactTest(f *testing.F) {
	for _, s := range []string{"a=b", "a<=1", "x=~/y/", "a=b=c", "!=", "~"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ft, err := ParseFactTest(s)
		if err != nil {
			return
		}
		if ft.Fact == "" || ft.Value == "" || !ValidOperator(ft.Operator) {
			t.Fatalf("%q parsed to invalid %+v", s, ft)
		}
	})
}

// The shared regex cache stays bounded whatever patterns requests carry,
// and keeps a pattern that is in use.
func TestRegexCacheBounded(t *testing.T) {
	hot, err := CompileRegex("/^hot$/")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3*regexCacheSize; i++ {
		if _, err := CompileRegex(fmt.Sprintf("/^p%d$/", i)); err != nil {
			t.Fatal(err)
		}
		if again, _ := CompileRegex("/^hot$/"); again != hot {
			t.Fatalf("pattern in use was evicted after %d others", i)
		}
		if n := regexCache.len(); n > regexCacheSize {
			t.Fatalf("cache holds %d patterns, bound is %d", n, regexCacheSize)
		}
	}
	if _, err := CompileRegex("/(/"); err == nil {
		t.Fatal("invalid pattern compiled")
	}
}

func TestParseNumberMatchesParseFloat(t *testing.T) {
	for _, s := range []string{"", "+", "-", "1", "-1.5", "+.5", ".", "1e3", "0x1p-2", "1_000", "0x_1p0", "inf", "-Infinity",
		"NaN", "nan", "web", "Web", "i", "n", "_1", " 1", "1 ", "١", "1e", "e1", "- 1"} {
		f, ok := parseNumber(s)
		g, err := strconv.ParseFloat(s, 64)
		if ok != (err == nil) || (ok && f != g && !(f != f && g != g)) {
			t.Errorf("parseNumber(%q) = %v, %v; ParseFloat = %v, %v", s, f, ok, g, err)
		}
	}
}

func FuzzParseNumber(f *testing.F) {
	for _, s := range []string{"1", "-1.5e3", "inf", "nan", "web", "0x1p-2", "1_0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := parseNumber(s)
		g, err := strconv.ParseFloat(s, 64)
		if ok != (err == nil) || (ok && n != g && !(n != n && g != g)) {
			t.Fatalf("parseNumber(%q) = %v, %v; ParseFloat = %v, %v", s, n, ok, g, err)
		}
	})
}

// Comparing a string fact with a non-numeric value allocates nothing
// (ParseFloat's error used to copy both strings).
func TestMatchFactStringNoAllocs(t *testing.T) {
	ff := FactFilter{Fact: "role", Operator: "==", Value: "web"}
	allocs := testing.AllocsPerRun(100, func() {
		if ok, err := MatchFact("web", true, ff); !ok || err != nil {
			t.Fatal("no match")
		}
	})
	if allocs != 0 {
		t.Fatalf("MatchFact allocates %v times per string comparison", allocs)
	}
}

// Concurrent lookups and evictions return the regex of the pattern asked
// for (run with -race).
func TestRegexCacheConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < regexCacheSize; i++ {
				p := fmt.Sprintf("/^c%d$/", (i*7+g)%(regexCacheSize+regexCacheSize/2))
				re, err := CompileRegex(p)
				if err != nil {
					t.Error(err)
					return
				}
				if !re.MatchString(p[2 : len(p)-2]) {
					t.Errorf("%s: got regex %s", p, re)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := regexCache.len(); n > regexCacheSize {
		t.Fatalf("cache holds %d patterns, bound is %d", n, regexCacheSize)
	}
}

// Names are matched case-sensitively and fact values not: the same
// pattern compiled both ways, through the one cache, keeps its rule.
func TestCompileNameRegex(t *testing.T) {
	for _, p := range []string{"/^web/", "^web"} {
		name, err := CompileNameRegex(p)
		if err != nil {
			t.Fatal(err)
		}
		fact, err := CompileRegex(p)
		if err != nil {
			t.Fatal(err)
		}
		if !name.MatchString("web1") || name.MatchString("WEB1") {
			t.Errorf("CompileNameRegex(%q) must match web1 and not WEB1", p)
		}
		if !fact.MatchString("WEB1") {
			t.Errorf("CompileRegex(%q) must stay case-insensitive", p)
		}
		if again, _ := CompileNameRegex(p); again != name {
			t.Errorf("CompileNameRegex(%q) is not cached", p)
		}
	}
	if _, err := CompileNameRegex("/(/"); err == nil {
		t.Fatal("invalid regex accepted")
	}
}
