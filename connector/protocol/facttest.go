package protocol

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// FactSource looks facts up by dotted path ("os.family"). Values are what
// encoding/json produces for the fact: string, float64 or json.Number,
// bool, nil, []any, map[string]any.
type FactSource interface {
	Fact(path string) (value any, ok bool)
}

// ParseFactTest parses the CLI and policy fact syntax "name<op>value"
// (PROTOCOL.md §13.2, AAA.md §2.5). The right-most operator wins, "="
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
// (missing fact) never matches. Comparison is typed (PROTOCOL.md §13.2):
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
	want, err := strconv.ParseFloat(strings.TrimSpace(wantText), 64)
	if err != nil {
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
	if hn, err := strconv.ParseFloat(have, 64); err == nil {
		if _, err := strconv.ParseFloat(want, 64); err == nil {
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

var regexCache sync.Map // pattern → *regexp.Regexp

// compileFactRegex compiles a fact or class regex: slashes optional,
// case-insensitive. Compiled patterns are cached (they come from a small
// set of filters and policies).
func compileFactRegex(p string) (*regexp.Regexp, error) {
	if v, ok := regexCache.Load(p); ok {
		return v.(*regexp.Regexp), nil
	}
	body := p
	if len(body) >= 2 && strings.HasPrefix(body, "/") && strings.HasSuffix(body, "/") {
		body = body[1 : len(body)-1]
	}
	re, err := regexp.Compile("(?i)" + body)
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression %q: %w", p, err)
	}
	regexCache.Store(p, re)
	return re, nil
}

// CompileRegex compiles a filter or policy regular expression written as
// "/re/" or "re", case-insensitive, with a shared cache.
func CompileRegex(p string) (*regexp.Regexp, error) { return compileFactRegex(p) }

// IsRegex reports whether s is written as /re/.
func IsRegex(s string) bool {
	return len(s) >= 2 && s[0] == '/' && s[len(s)-1] == '/'
}
