package mcollective

import (
	"fmt"

	rm "github.com/tuttifleet/tutti/connector/mcollective/rubymarshal"
)

func strList(v rm.Value, what string) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	a, ok := v.([]rm.Value)
	if !ok {
		return nil, fmt.Errorf("%w: filter %s is a %T, not an Array", ErrDecode, what, v)
	}
	out := make([]string, 0, len(a))
	for _, el := range a {
		s, ok := rm.Str(el)
		if !ok {
			return nil, fmt.Errorf("%w: filter %s holds a %T", ErrDecode, what, el)
		}
		out = append(out, s)
	}
	return out, nil
}

func decodeFilter(v rm.Value) (Filter, error) {
	var f Filter
	h, err := asHash(v, ":filter")
	if err != nil {
		return f, err
	}
	get := func(k string) rm.Value { x, _ := h.Get(k); return x }
	if f.CFClass, err = strList(get("cf_class"), "cf_class"); err != nil {
		return f, err
	}
	if f.Agent, err = strList(get("agent"), "agent"); err != nil {
		return f, err
	}
	if f.Identity, err = strList(get("identity"), "identity"); err != nil {
		return f, err
	}
	if facts, ok := get("fact").([]rm.Value); ok {
		for _, el := range facts {
			fh, err := asHash(el, "fact filter")
			if err != nil {
				return f, err
			}
			var ff FactFilter
			for key, dst := range map[string]*string{"fact": &ff.Fact, "operator": &ff.Operator, "value": &ff.Value} {
				if *dst, err = getStr(fh, key); err != nil {
					return f, err
				}
			}
			f.Fact = append(f.Fact, ff)
		}
	} else if get("fact") != nil {
		return f, fmt.Errorf("%w: filter fact is not an Array", ErrDecode)
	}
	if f.Compound, err = decodeCompound(get("compound")); err != nil {
		return f, err
	}
	return f, nil
}

func decodeCompound(v rm.Value) ([][]Token, error) {
	if v == nil {
		return nil, nil
	}
	exprs, ok := v.([]rm.Value)
	if !ok {
		return nil, fmt.Errorf("%w: filter compound is not an Array", ErrDecode)
	}
	var out [][]Token
	for _, e := range exprs {
		toks, ok := e.([]rm.Value)
		if !ok {
			return nil, fmt.Errorf("%w: a compound expression is not an Array", ErrDecode)
		}
		var expr []Token
		for _, t := range toks {
			th, err := asHash(t, "compound token")
			if err != nil {
				return nil, err
			}
			if th.Len() != 1 {
				return nil, fmt.Errorf("%w: a compound token has %d keys", ErrDecode, th.Len())
			}
			kind, ok := rm.Str(th.Keys[0])
			if !ok {
				return nil, fmt.Errorf("%w: a compound token's key is a %T", ErrDecode, th.Keys[0])
			}
			expr = append(expr, Token{Kind: kind, Value: th.Values[0]})
		}
		out = append(out, expr)
	}
	return out, nil
}

func encodeFilter(f *Filter) *rm.Hash {
	list := func(s []string) []rm.Value {
		a := make([]rm.Value, len(s))
		for i := range s {
			a[i] = s[i]
		}
		return a
	}
	facts := make([]rm.Value, len(f.Fact))
	for i, ff := range f.Fact {
		facts[i] = rm.Sym("fact", ff.Fact, "value", ff.Value, "operator", ff.Operator)
	}
	compound := make([]rm.Value, len(f.Compound))
	for i, expr := range f.Compound {
		toks := make([]rm.Value, len(expr))
		for j, t := range expr {
			toks[j] = (&rm.Hash{}).Set(t.Kind, t.Value)
		}
		compound[i] = toks
	}
	return (&rm.Hash{}).Set("fact", facts).Set("cf_class", list(f.CFClass)).Set("agent", list(f.Agent)).
		Set("identity", list(f.Identity)).Set("compound", compound)
}
