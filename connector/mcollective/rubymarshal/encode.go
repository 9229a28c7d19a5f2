package rubymarshal

import (
	"fmt"
	"math"
	"sort"
	"strconv"
)

// Marshal encodes v as Ruby's Marshal.dump would: strings (Go string) as
// UTF-8 Strings, []byte as binary Strings, repeated symbols as
// back-references. Maps with string keys are written as Hashes with
// Symbol keys in sorted order; *Hash keeps its order.
func Marshal(v Value) ([]byte, error) {
	e := &encoder{b: []byte{4, 8}, syms: map[Symbol]int{}}
	if err := e.value(v, 0); err != nil {
		return nil, err
	}
	return e.b, nil
}

type encoder struct {
	b    []byte
	syms map[Symbol]int
}

func (e *encoder) long(x int64) {
	switch {
	case x == 0:
		e.b = append(e.b, 0)
		return
	case x > 0 && x < 123:
		e.b = append(e.b, byte(x+5))
		return
	case x < 0 && x > -124:
		e.b = append(e.b, byte(x-5))
		return
	}
	var buf [9]byte
	for i := 1; i < 9; i++ {
		buf[i] = byte(x)
		x >>= 8
		if x == 0 {
			buf[0] = byte(i)
			e.b = append(e.b, buf[:i+1]...)
			return
		}
		if x == -1 {
			buf[0] = byte(-i)
			e.b = append(e.b, buf[:i+1]...)
			return
		}
	}
}

func (e *encoder) symbol(s Symbol) {
	if i, ok := e.syms[s]; ok {
		e.b = append(e.b, ';')
		e.long(int64(i))
		return
	}
	e.syms[s] = len(e.syms)
	e.b = append(e.b, ':')
	e.long(int64(len(s)))
	e.b = append(e.b, s...)
}

func (e *encoder) value(v Value, depth int) error {
	if depth > defaultMaxDepth {
		return fmt.Errorf("%w: nested deeper than %d", ErrFormat, defaultMaxDepth)
	}
	switch x := v.(type) {
	case nil:
		e.b = append(e.b, '0')
	case bool:
		if x {
			e.b = append(e.b, 'T')
		} else {
			e.b = append(e.b, 'F')
		}
	case int:
		e.int(int64(x))
	case int64:
		e.int(x)
	case float64:
		e.float(x)
	case Symbol:
		e.symbol(x)
	case []byte:
		e.b = append(e.b, '"')
		e.long(int64(len(x)))
		e.b = append(e.b, x...)
	case string:
		e.str(x, 'T')
	case ASCII:
		e.str(string(x), 'F')
	case []Value:
		e.b = append(e.b, '[')
		e.long(int64(len(x)))
		for _, el := range x {
			if err := e.value(el, depth+1); err != nil {
				return err
			}
		}
	case []string:
		e.b = append(e.b, '[')
		e.long(int64(len(x)))
		for _, el := range x {
			e.value(el, depth+1) //nolint:errcheck // a string cannot fail
		}
	case *Hash:
		e.b = append(e.b, '{')
		e.long(int64(len(x.Keys)))
		for i, k := range x.Keys {
			if err := e.value(k, depth+1); err != nil {
				return err
			}
			if err := e.value(x.Values[i], depth+1); err != nil {
				return err
			}
		}
	case map[string]Value:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		e.b = append(e.b, '{')
		e.long(int64(len(keys)))
		for _, k := range keys {
			e.symbol(Symbol(k))
			if err := e.value(x[k], depth+1); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("%w: cannot encode a %T", ErrFormat, v)
	}
	return nil
}

// str writes a String with its encoding flag (:E true for UTF-8, false
// for US-ASCII).
func (e *encoder) str(s string, utf8 byte) {
	e.b = append(e.b, 'I', '"')
	e.long(int64(len(s)))
	e.b = append(e.b, s...)
	e.long(1)
	e.symbol("E")
	e.b = append(e.b, utf8)
}

func (e *encoder) int(x int64) {
	if x >= -(1<<30) && x < 1<<30 {
		e.b = append(e.b, 'i')
		e.long(x)
		return
	}
	e.b = append(e.b, 'l')
	u := uint64(x)
	if x < 0 {
		e.b = append(e.b, '-')
		u = uint64(-x)
		if x == math.MinInt64 {
			u = 1 << 63
		}
	} else {
		e.b = append(e.b, '+')
	}
	var le []byte
	for u > 0 {
		le = append(le, byte(u))
		u >>= 8
	}
	if len(le)%2 == 1 {
		le = append(le, 0)
	}
	e.long(int64(len(le) / 2))
	e.b = append(e.b, le...)
}

func (e *encoder) float(f float64) {
	var s string
	switch {
	case math.IsNaN(f):
		s = "nan"
	case math.IsInf(f, 1):
		s = "inf"
	case math.IsInf(f, -1):
		s = "-inf"
	default:
		s = strconv.FormatFloat(f, 'g', -1, 64)
	}
	e.b = append(e.b, 'f')
	e.long(int64(len(s)))
	e.b = append(e.b, s...)
}
