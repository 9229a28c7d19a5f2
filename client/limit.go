package client

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// Limit is a --limit value: at most N nodes, or Percent of them.
// The zero Limit selects every node.
type Limit struct {
	N       int
	Percent float64
}

// ParseLimit reads "N" (a positive count) or "N%" (a percentage in
// (0, 100]). The empty string is no limit.
func ParseLimit(s string) (Limit, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Limit{}, nil
	}
	if p, ok := strings.CutSuffix(s, "%"); ok {
		v, err := strconv.ParseFloat(p, 64)
		if err != nil || math.IsNaN(v) || v <= 0 || v > 100 {
			return Limit{}, fmt.Errorf("limit %q: a percentage must be a number above 0 and at most 100", s)
		}
		return Limit{Percent: v}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return Limit{}, fmt.Errorf("limit %q: must be a positive number of nodes or a percentage like 10%%", s)
	}
	return Limit{N: n}, nil
}

// String renders the limit as ParseLimit reads it.
func (l Limit) String() string {
	switch {
	case l.Percent > 0:
		return strconv.FormatFloat(l.Percent, 'f', -1, 64) + "%"
	case l.N > 0:
		return strconv.Itoa(l.N)
	}
	return ""
}

// Count is how many of total nodes the limit keeps. A percentage rounds
// up, so any positive percentage of a non-empty fleet keeps at least one.
func (l Limit) Count(total int) int {
	switch {
	case l.Percent > 0:
		return min(total, int(math.Ceil(float64(total)*l.Percent/100-1e-9)))
	case l.N > 0:
		return min(total, l.N)
	}
	return total
}

// Apply returns a random subset of nodes of the limit's size, sorted. The
// choice depends only on the set of nodes and seed, so the same seed over
// the same nodes picks the same subset; seed 0 picks a fresh random seed.
func (l Limit) Apply(nodes []string, seed uint64) []string {
	sorted := slices.Clone(nodes)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	n := l.Count(len(sorted))
	if n >= len(sorted) {
		return sorted
	}
	if seed == 0 {
		seed = rand.Uint64()
	}
	r := rand.New(rand.NewPCG(seed, 0x7475747469)) // "tutti"
	r.Shuffle(len(sorted), func(i, j int) { sorted[i], sorted[j] = sorted[j], sorted[i] })
	out := sorted[:n]
	slices.Sort(out)
	return out
}
