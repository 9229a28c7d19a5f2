package filter

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/connector/protocol"
)

// hugeFilter is the abuse of issue 19: n distinct regex identity filters,
// none of which matches (each is compiled and tried), about 40 bytes each.
func hugeFilter(n int) *protocol.Filter {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("/^host-%06d-[a-z]+\\.example\\.net$/", i)
	}
	return &protocol.Filter{Identity: ids}
}

func TestLimitsRefuseBeforeCompiling(t *testing.T) {
	lim := DefaultLimits()
	long := "/" + strings.Repeat("a", DefaultMaxRegexLength) + "/"
	many := make([]string, DefaultMaxEntries+1)
	for i := range many {
		many[i] = fmt.Sprintf("host%d", i)
	}
	cases := []struct {
		name, key string
		f         protocol.Filter
	}{
		{"entries", "max_entries", protocol.Filter{Identity: many}},
		{"regexes", "max_regexes", *hugeFilter(DefaultMaxRegexes + 1)},
		{"regexes of all selectors together", "max_regexes", protocol.Filter{
			Identity: hugeFilter(DefaultMaxRegexes / 2).Identity, CFClass: hugeFilter(DefaultMaxRegexes/2 + 1).Identity}},
		{"fact regexes count", "max_regexes", protocol.Filter{
			Identity: hugeFilter(DefaultMaxRegexes).Identity, Fact: []protocol.FactFilter{ff("role", "=~", "/web/")}}},
		{"regex length", "max_regex_length", protocol.Filter{Agent: []string{long}}},
		{"fact regex length", "max_regex_length", protocol.Filter{Fact: []protocol.FactFilter{ff("role", "=~", long)}}},
		{"expressions", "max_expressions", protocol.Filter{Compound: exprs(strings.Split(strings.Repeat("role=web,", DefaultMaxExpressions+1), ",")[:DefaultMaxExpressions+1]...)}},
		{"expression length", "max_expression_length", protocol.Filter{Compound: exprs("role=web or " + strings.Repeat(" ", DefaultMaxExpressionLength))}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := lim.Check(&tc.f); !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "plugin.tutti.filter."+tc.key) {
				t.Fatalf("Check = %v, want ErrLimit naming plugin.tutti.filter.%s", err, tc.key)
			}
			r, err := MatchLimited(&tc.f, newNode(), lim)
			if r.Match || !errors.Is(err, ErrLimit) {
				t.Fatalf("MatchLimited = %+v, %v, want a refusal wrapping ErrLimit", r, err)
			}
			// without limits the same filter is matched as before (no refusal)
			if _, err := Match(&tc.f, newNode()); errors.Is(err, ErrLimit) {
				t.Fatalf("Match without limits refused: %v", err)
			}
		})
	}
}

// Compound expressions share the filter's regex budget and are bounded
// in depth; the bound also holds for an expression the cache parsed
// before under looser limits.
func TestLimitsCompound(t *testing.T) {
	lim := Limits{MaxRegexes: 3, MaxExpressionDepth: 8}
	m := NewMatcher(16)
	n := newNode()
	within := &protocol.Filter{Identity: []string{"/web/"}, Compound: exprs("/apache/ and role=~/w/")}
	if r, err := m.MatchLimited(within, n, lim); err != nil || !r.Match {
		t.Fatalf("within the limits: %+v, %v", r, err)
	}
	over := &protocol.Filter{Identity: []string{"/web/", "/x/"}, Compound: exprs("/apache/ and role=~/w/")}
	if _, err := m.MatchLimited(over, n, lim); !errors.Is(err, ErrLimit) {
		t.Fatalf("regexes over the shared budget: %v, want ErrLimit", err)
	}
	split := &protocol.Filter{Compound: exprs("/apache/ and role=~/w/", "role=~/w/ or /a/")}
	if _, err := m.MatchLimited(split, n, lim); !errors.Is(err, ErrLimit) {
		t.Fatalf("regexes over the budget across expressions: %v, want ErrLimit", err)
	}
	deep := strings.Repeat("(", 20) + "role=web" + strings.Repeat(")", 20)
	if r, err := m.Match(&protocol.Filter{Compound: exprs(deep)}, n); err != nil || !r.Match {
		t.Fatalf("deep expression without limits: %+v, %v", r, err)
	}
	if _, err := m.MatchLimited(&protocol.Filter{Compound: exprs(deep)}, n, lim); !errors.Is(err, ErrLimit) {
		t.Fatalf("deep expression (cached) within limits: %v, want ErrLimit", err)
	}
}

// Real filters are unaffected by the default limits.
func TestLimitsNormalFilters(t *testing.T) {
	f := &protocol.Filter{
		Identity: []string{"web1.example.net", "/^web\\d+/"},
		Agent:    []string{"rpcutil", "/serv/"},
		CFClass:  []string{"apache"},
		Fact:     []protocol.FactFilter{ff("country", "=~", "/uk/"), ff("cpus", ">=", "2")},
		Compound: exprs("role=web and (os.family=Debian or with('/apache/'))"),
	}
	r, err := MatchLimited(f, newNode(), DefaultLimits())
	if err != nil || !r.Match {
		t.Fatalf("MatchLimited = %+v, %v", r, err)
	}
}

// The abuse of issue 19 is refused in well under a millisecond; without
// limits the same filter costs a node most of a CPU-second.
func TestLimitsRefuseHugeFilterQuickly(t *testing.T) {
	f := hugeFilter(90000)
	start := time.Now()
	_, err := MatchLimited(f, newNode(), DefaultLimits())
	took := time.Since(start)
	if !errors.Is(err, ErrLimit) {
		t.Fatalf("err = %v, want ErrLimit", err)
	}
	// 13 µs here, and 2.5 s when the 90,000 regexes are compiled: a
	// bound far from both holds on a loaded machine under -race
	if took > time.Second {
		t.Fatalf("refusal took %s", took)
	}
}

// BenchmarkHugeFilter compares a 90,000-regex identity filter refused by
// the default limits with the cost of matching it without them (what
// every node paid before the limits).
func BenchmarkHugeFilter(b *testing.B) {
	f, n := hugeFilter(90000), newNode()
	b.Run("refused", func(b *testing.B) {
		for range b.N {
			if _, err := MatchLimited(f, n, DefaultLimits()); !errors.Is(err, ErrLimit) {
				b.Fatal(err)
			}
		}
	})
	b.Run("unlimited", func(b *testing.B) {
		for range b.N {
			if r, err := Match(f, n); err != nil || r.Match {
				b.Fatal(r, err)
			}
		}
	})
}
