package mcollective

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"unicode/utf8"

	rm "github.com/tuttifleet/tutti/connector/mcollective/rubymarshal"
)

// ToJSON converts a decoded Ruby value to the JSON value tutti's agents
// take: Symbol and String keys both become object keys, Symbols and
// binary Strings become strings (refused when not UTF-8), non-finite
// floats are refused. Hash keys that are not strings or symbols are
// refused.
func ToJSON(v rm.Value) (any, error) {
	switch x := v.(type) {
	case nil, bool, int64, string:
		return x, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("%w: %v has no JSON form", ErrDecode, x)
		}
		return x, nil
	case rm.Symbol:
		return string(x), nil
	case []byte:
		if !utf8.Valid(x) {
			return nil, fmt.Errorf("%w: a binary String is not UTF-8", ErrDecode)
		}
		return string(x), nil
	case []rm.Value:
		out := make([]any, len(x))
		for i, el := range x {
			j, err := ToJSON(el)
			if err != nil {
				return nil, err
			}
			out[i] = j
		}
		return out, nil
	case *rm.Hash:
		out := make(map[string]any, x.Len())
		for i, k := range x.Keys {
			var name string
			switch kk := k.(type) {
			case rm.Symbol:
				name = string(kk)
			case string:
				name = kk
			case []byte:
				name = string(kk)
			default:
				return nil, fmt.Errorf("%w: a %T hash key has no JSON form", ErrDecode, k)
			}
			if _, dup := out[name]; dup {
				return nil, fmt.Errorf("%w: hash keys %q as a String and a Symbol", ErrDecode, name)
			}
			j, err := ToJSON(x.Values[i])
			if err != nil {
				return nil, err
			}
			out[name] = j
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: a %T has no JSON form", ErrDecode, v)
}

// FromJSON converts an agent's JSON reply data to what an MCollective
// client expects: the top-level keys of an object become Symbols (a
// DDL's outputs), deeper keys stay Strings (facts and the like);
// integers stay integers. Object keys are sorted.
func FromJSON(data []byte) (rm.Value, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return &rm.Hash{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("reply data: %w", err)
	}
	return fromJSON(v, true, 0)
}

func fromJSON(v any, top bool, depth int) (rm.Value, error) {
	if depth > 32 {
		return nil, fmt.Errorf("reply data nested deeper than 32")
	}
	switch x := v.(type) {
	case nil, bool, string:
		return x, nil
	case json.Number:
		if !strings.ContainsAny(x.String(), ".eE") {
			if i, err := x.Int64(); err == nil {
				return i, nil
			}
		}
		f, err := x.Float64()
		if err != nil {
			return nil, fmt.Errorf("reply data: %w", err)
		}
		return f, nil
	case []any:
		out := make([]rm.Value, len(x))
		for i := range x {
			el, err := fromJSON(x[i], false, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = el
		}
		return out, nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		h := &rm.Hash{}
		for _, k := range keys {
			el, err := fromJSON(x[k], false, depth+1)
			if err != nil {
				return nil, err
			}
			var key rm.Value = k
			if top {
				key = rm.Symbol(k)
			}
			h.Keys = append(h.Keys, key)
			h.Values = append(h.Values, el)
		}
		return h, nil
	}
	return nil, fmt.Errorf("reply data: unexpected %T", v)
}

// Expression turns an MCollective compound expression (a token list) into
// the expression language tutti nodes evaluate: statements become
// with('…'), the operators stay. Data-plugin calls (fstatement) and
// anything tutti cannot express are refused, so such a filter selects no
// node (fail closed).
func Expression(tokens []Token) (string, error) {
	var parts []string
	for _, t := range tokens {
		s, _ := rm.Str(t.Value)
		switch t.Kind {
		case "statement":
			if s == "" || strings.ContainsAny(s, "'\\") {
				return "", fmt.Errorf("%w: compound statement %q cannot be expressed", ErrDecode, s)
			}
			parts = append(parts, "with('"+s+"')")
		case "and", "or", "not":
			parts = append(parts, t.Kind)
		case "(", ")":
			parts = append(parts, t.Kind)
		default:
			return "", fmt.Errorf("%w: compound token %q is not supported (data plugins are not available on tutti nodes)", ErrDecode, t.Kind)
		}
	}
	if len(parts) == 0 {
		return "", fmt.Errorf("%w: empty compound expression", ErrDecode)
	}
	return strings.Join(parts, " "), nil
}
