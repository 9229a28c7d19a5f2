package protocol

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// FactSource looks facts up by dotted path ("os.family"). Values are what
// encoding/json produces for the fact: string, float64 or json.Number,
// bool, nil, []any, map[string]any.
type FactSource interface {
	Fact(path string) (value any, ok bool)
}

// ParseFactTest parses the CLI and policy fact syntax "name<op>value"
// (docs/protocol.md §13.2, docs/actionpolicy.md §2.5). The right-most operator wins, "="
// means "==", "=>"/"=<" mean ">="/"<=", and "name=/re/" means "=~".
func ParseFactTest(s string) (FactFilter, error) {
	for j := len(s) - 1; j > 0; j-- {
		c := s[j]
		if c != '=' && c != '<' && c != '>' && c != '~' {
			continue
		}
		op, start := "", j
		if two := s[j-1 : j+1]; j >= 1 && isTwoCharOp(two) {
			op, start = two, j-1
		} else if c != '~' {
			op = string(c)
		} else {
			continue
		}
		name, value := s[:start], s[j+1:]
		if name == "" || value == "" {
			return FactFilter{}, fmt.Errorf("invalid fact test %q: name and value must not be empty", s)
		}
		switch op {
		case "=":
			op = "=="
		case "=>":
			op = ">="
		case "=<":
			op = "<="
		}
		if op == "==" && IsRegex(value) {
			op = "=~"
		}
		return FactFilter{Fact: name, Operator: op, Value: value}, nil
	}
	return FactFilter{}, fmt.Errorf("invalid fact test %q: expected name<op>value with op one of == != < > <= >= =~", s)
}

func isTwoCharOp(s string) bool {
	switch s {
	case "=~", "==", "!=", "<=", ">=", "=<", "=>":
		return true
	}
	return false
}

// ValidOperator reports whether op is one of the filter JSON operators.
func ValidOperator(op string) bool {
	switch op {
	case "==", "!=", "<", ">", "<=", ">=", "=~":
		return true
	}
	return false
}

// MatchFact compares a fact value found by a FactSource with f. ok=false
// (missing fact) never matches. Comparison is typed (docs/protocol.md §13.2):
// numbers numerically, booleans by truthiness, strings case-insensitively
// (lexically, lower-cased, for ordering); "=~" is a case-insensitive
// regular expression search. Arrays and objects never match. An error is
// returned for an unknown operator or an invalid regular expression.
func MatchFact(value any, ok bool, f FactFilter) (bool, error) {
	op := f.Operator
	if op == "=" {
		op = "=="
	}
	if !ValidOperator(op) {
		return false, fmt.Errorf("unknown fact operator %q", f.Operator)
	}
	if op == "=~" {
		re, err := compileFactRegex(f.Value)
		if err != nil {
			return false, err
		}
		if !ok {
			return false, nil
		}
		s, scalar := scalarString(value)
		return scalar && re.MatchString(s), nil
	}
	if !ok {
		return false, nil
	}
	switch v := value.(type) {
	case bool:
		want, err := parseBool(f.Value)
		if err != nil {
			return false, nil
		}
		switch op {
		case "==":
			return v == want, nil
		case "!=":
			return v != want, nil
		}
		return false, nil
	case float64:
		return compareNumber(v, f.Value, op)
	case json.Number:
		n, err := v.Float64()
		if err != nil {
			return false, nil
		}
		return compareNumber(n, f.Value, op)
	case int:
		return compareNumber(float64(v), f.Value, op)
	case int64:
		return compareNumber(float64(v), f.Value, op)
	case string:
		return compareString(v, f.Value, op), nil
	case nil:
		return false, nil
	}
	return false, nil // arrays, objects
}

func compareNumber(have float64, wantText, op string) (bool, error) {
	want, ok := parseNumber(strings.TrimSpace(wantText))
	if !ok {
		// a number fact compared with a non-number: only != can be true
		return op == "!=", nil
	}
	switch op {
	case "==":
		return have == want, nil
	case "!=":
		return have != want, nil
	case "<":
		return have < want, nil
	case ">":
		return have > want, nil
	case "<=":
		return have <= want, nil
	case ">=":
		return have >= want, nil
	}
	return false, nil
}

func compareString(have, want, op string) bool {
	// numeric strings compare numerically ("16" > "4")
	if hn, ok := parseNumber(have); ok {
		if _, ok := parseNumber(want); ok {
			ok, _ := compareNumber(hn, want, op)
			return ok
		}
	}
	h, w := strings.ToLower(have), strings.ToLower(want)
	switch op {
	case "==":
		return h == w
	case "!=":
		return h != w
	case "<":
		return h < w
	case ">":
		return h > w
	case "<=":
		return h <= w
	case ">=":
		return h >= w
	}
	return false
}

// parseNumber is strconv.ParseFloat(s, 64) without the error, which
// allocates (it copies s). Strings that cannot be numbers (the usual
// case for string facts like "web") are rejected before ParseFloat: a
// float starts, after an optional sign, with a digit or '.', or is
// inf, infinity or nan.
func parseNumber(s string) (float64, bool) {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	if i == len(s) {
		return 0, false
	}
	switch c := s[i] | 0x20; {
	case s[i] >= '0' && s[i] <= '9', s[i] == '.', c == 'i', c == 'n':
	default:
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case json.Number:
		return x.String(), true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	}
	return "", false
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "t", "true", "y", "yes":
		return true, nil
	case "0", "f", "false", "n", "no":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean: %q", s)
}

// compileFactRegex compiles a fact or class regex: slashes optional,
// case-insensitive. Compiled patterns are cached in regexCache.
func compileFactRegex(p string) (*regexp.Regexp, error) {
	if re := regexCache.get(p); re != nil {
		return re, nil
	}
	body := p
	if len(body) >= 2 && strings.HasPrefix(body, "/") && strings.HasSuffix(body, "/") {
		body = body[1 : len(body)-1]
	}
	re, err := regexp.Compile("(?i)" + body)
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression %q: %w", p, err)
	}
	regexCache.put(p, re)
	return re, nil
}

// regexCacheSize bounds the shared regex cache. Patterns come from
// filters and policies, a small set in practice, but a filter is chosen
// by whoever sends a request, so the cache must not grow without bound.
const regexCacheSize = 1024

var regexCache = newRegexLRU(regexCacheSize)

// regexLRU is a bounded cache with second-chance (clock) eviction: a hit
// only sets a flag under the read lock; when the cache is full, entries
// not used since the previous sweep go first, then arbitrary ones, down
// to three quarters of the bound.
type regexLRU struct {
	mu  sync.RWMutex
	m   map[string]*regexEntry
	max int
}

type regexEntry struct {
	re   *regexp.Regexp
	used atomic.Bool
}

func newRegexLRU(max int) *regexLRU {
	return &regexLRU{m: make(map[string]*regexEntry), max: max}
}

func (c *regexLRU) get(p string) *regexp.Regexp {
	c.mu.RLock()
	e := c.m[p]
	c.mu.RUnlock()
	if e == nil {
		return nil
	}
	if !e.used.Load() {
		e.used.Store(true)
	}
	return e.re
}

func (c *regexLRU) put(p string, re *regexp.Regexp) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[p]; ok {
		return
	}
	if len(c.m) >= c.max {
		keep := c.max * 3 / 4
		for k, e := range c.m {
			if !e.used.Load() {
				delete(c.m, k)
			}
			e.used.Store(false)
		}
		for k := range c.m {
			if len(c.m) <= keep {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[p] = &regexEntry{re: re}
}

func (c *regexLRU) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// CompileRegex compiles a fact-value or policy regular expression written
// as "/re/" or "re", case-insensitive, with a shared cache.
func CompileRegex(p string) (*regexp.Regexp, error) { return compileFactRegex(p) }

// CompileNameRegex compiles an identity, agent or class regular
// expression written as "/re/" or "re", case-sensitive as Choria and
// MCollective match names (docs/protocol.md §13.2), with the shared cache.
func CompileNameRegex(p string) (*regexp.Regexp, error) {
	key := "\x00name\x00" + p // never a fact pattern's key
	if re := regexCache.get(key); re != nil {
		return re, nil
	}
	body := p
	if IsRegex(body) {
		body = body[1 : len(body)-1]
	}
	re, err := regexp.Compile(body)
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression %q: %w", p, err)
	}
	regexCache.put(key, re)
	return re, nil
}

// IsRegex reports whether s is written as /re/.
func IsRegex(s string) bool {
	return len(s) >= 2 && s[0] == '/' && s[len(s)-1] == '/'
}
