package client

import (
	"fmt"
	"slices"
	"testing"
)

func TestParseLimit(t *testing.T) {
	good := map[string]Limit{"": {}, "3": {N: 3}, " 10 ": {N: 10}, "50%": {Percent: 50}, "12.5%": {Percent: 12.5}, "100%": {Percent: 100}}
	for in, want := range good {
		got, err := ParseLimit(in)
		if err != nil || got != want {
			t.Errorf("ParseLimit(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if again, _ := ParseLimit(got.String()); again != got {
			t.Errorf("%q does not round-trip: %q", in, got.String())
		}
	}
	for _, in := range []string{"0", "-1", "x", "0%", "101%", "%", "NaN%", "1.5", "10 %x"} {
		if l, err := ParseLimit(in); err == nil {
			t.Errorf("ParseLimit(%q) = %+v, want an error", in, l)
		}
	}
}

func TestLimitCount(t *testing.T) {
	cases := []struct {
		l           Limit
		total, want int
	}{
		{Limit{}, 7, 7}, {Limit{N: 3}, 7, 3}, {Limit{N: 30}, 7, 7}, {Limit{Percent: 50}, 7, 4},
		{Limit{Percent: 1}, 7, 1}, {Limit{Percent: 10}, 10, 1}, {Limit{Percent: 100}, 7, 7}, {Limit{Percent: 50}, 0, 0},
	}
	for _, c := range cases {
		if got := c.l.Count(c.total); got != c.want {
			t.Errorf("%s of %d = %d, want %d", c.l, c.total, got, c.want)
		}
	}
}

func TestLimitApply(t *testing.T) {
	var nodes []string
	for i := range 20 {
		nodes = append(nodes, fmt.Sprintf("node%02d", i))
	}
	l := Limit{N: 5}
	a := l.Apply(nodes, 42)
	if len(a) != 5 || !slices.IsSorted(a) {
		t.Fatalf("Apply = %v", a)
	}
	for _, n := range a {
		if !slices.Contains(nodes, n) {
			t.Fatalf("%s is not one of the nodes", n)
		}
	}
	// same seed, same nodes in another order: same subset
	rev := slices.Clone(nodes)
	slices.Reverse(rev)
	if b := l.Apply(rev, 42); !slices.Equal(a, b) {
		t.Fatalf("seed 42 chose %v then %v", a, b)
	}
	// some other seed chooses differently, and seed 0 is random
	differs := false
	for seed := uint64(1); seed < 20 && !differs; seed++ {
		differs = !slices.Equal(a, l.Apply(nodes, seed))
	}
	if !differs {
		t.Fatal("every seed chose the same subset")
	}
	if got := (Limit{}).Apply([]string{"b", "a", "b"}, 0); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("no limit: %v", got)
	}
}

func FuzzParseLimit(f *testing.F) {
	for _, s := range []string{"3", "50%", "0", "1e3%", "-0%", "+5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLimit(s)
		if err != nil {
			return
		}
		if l.N < 0 || l.Percent < 0 || l.Percent > 100 || (l.N > 0 && l.Percent > 0) {
			t.Fatalf("ParseLimit(%q) = %+v", s, l)
		}
		for _, total := range []int{0, 1, 9, 1000} {
			if n := l.Count(total); n < 0 || n > total || (total > 0 && n == 0 && (l.N > 0 || l.Percent > 0)) {
				t.Fatalf("%+v.Count(%d) = %d", l, total, n)
			}
		}
	})
}
