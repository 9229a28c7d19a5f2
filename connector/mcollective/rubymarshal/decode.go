package rubymarshal

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// Limits bound what Unmarshal accepts.
type Limits struct {
	// MaxDepth is the deepest nesting of arrays and hashes (default 32).
	MaxDepth int
	// MaxItems is the most array elements plus hash entries in the whole
	// stream (default 100 000).
	MaxItems int
}

const (
	defaultMaxDepth = 32
	defaultMaxItems = 100_000
	// maxBignumBytes: bignums are accepted only when they fit an int64
	// (epoch seconds are the bignums MCollective sends).
	maxBignumBytes = 8
	maxFloatText   = 64
)

type decoder struct {
	b       []byte
	off     int
	depth   int
	items   int
	lim     Limits
	symbols []Symbol
	objects []Value // scalars only; containers are placeholders (nil) that links may not use
	linkOK  []bool
}

// Unmarshal decodes one Marshal 4.8 stream that must fill data exactly.
func Unmarshal(data []byte) (Value, error) {
	return UnmarshalLimits(data, Limits{})
}

// UnmarshalLimits is Unmarshal with explicit limits (zero fields take
// the defaults).
func UnmarshalLimits(data []byte, lim Limits) (Value, error) {
	if lim.MaxDepth <= 0 {
		lim.MaxDepth = defaultMaxDepth
	}
	if lim.MaxItems <= 0 {
		lim.MaxItems = defaultMaxItems
	}
	if len(data) < 2 || data[0] != 4 || data[1] != 8 {
		return nil, formatErr(0, "not a Marshal 4.8 stream")
	}
	d := &decoder{b: data, off: 2, lim: lim}
	v, err := d.value()
	if err != nil {
		return nil, err
	}
	if d.off != len(d.b) {
		return nil, formatErr(d.off, "%d bytes after the value", len(d.b)-d.off)
	}
	return v, nil
}

func (d *decoder) byte() (byte, error) {
	if d.off >= len(d.b) {
		return 0, formatErr(d.off, "unexpected end of stream")
	}
	c := d.b[d.off]
	d.off++
	return c, nil
}

// long reads Marshal's packed integer (w_long/r_long).
func (d *decoder) long() (int64, error) {
	c, err := d.byte()
	if err != nil {
		return 0, err
	}
	n := int8(c)
	switch {
	case n == 0:
		return 0, nil
	case n > 4:
		return int64(n) - 5, nil
	case n < -4:
		return int64(n) + 5, nil
	case n > 0:
		var x int64
		for i := 0; i < int(n); i++ {
			b, err := d.byte()
			if err != nil {
				return 0, err
			}
			x |= int64(b) << (8 * i)
		}
		return x, nil
	}
	x := int64(-1)
	for i := 0; i < int(-n); i++ {
		b, err := d.byte()
		if err != nil {
			return 0, err
		}
		x &^= 0xff << (8 * i)
		x |= int64(b) << (8 * i)
	}
	return x, nil
}

// length reads a packed length and checks it against what remains (each
// unit needs at least unit bytes).
func (d *decoder) length(unit int) (int, error) {
	at := d.off
	n, err := d.long()
	if err != nil {
		return 0, err
	}
	if n < 0 || n > int64(len(d.b)-d.off)/int64(unit) {
		return 0, formatErr(at, "length %d beyond the %d bytes left", n, len(d.b)-d.off)
	}
	return int(n), nil
}

func (d *decoder) bytes() ([]byte, error) {
	n, err := d.length(1)
	if err != nil {
		return nil, err
	}
	s := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return s, nil
}

// object registers a value in the object table, as Ruby does for every
// value that is not nil, a boolean, a fixnum or a symbol.
func (d *decoder) object(v Value, linkable bool) int {
	d.objects = append(d.objects, v)
	d.linkOK = append(d.linkOK, linkable)
	return len(d.objects) - 1
}

func (d *decoder) value() (Value, error) {
	at := d.off
	c, err := d.byte()
	if err != nil {
		return nil, err
	}
	switch c {
	case '0':
		return nil, nil
	case 'T':
		return true, nil
	case 'F':
		return false, nil
	case 'i':
		return d.long()
	case ':', ';':
		d.off = at
		return d.symbol()
	case '"':
		s, err := d.bytes()
		if err != nil {
			return nil, err
		}
		d.object(s, true)
		return s, nil
	case 'I':
		return d.ivarString(at)
	case 'l':
		return d.bignum(at)
	case 'f':
		return d.float(at)
	case '[':
		return d.array(at)
	case '{':
		return d.hash(at)
	case '@':
		i, err := d.long()
		if err != nil {
			return nil, err
		}
		if i < 0 || i >= int64(len(d.objects)) || !d.linkOK[i] {
			return nil, formatErr(at, "object link %d: only links to earlier strings and numbers are accepted", i)
		}
		return d.objects[i], nil
	}
	return nil, formatErr(at, "type %q is not accepted (MCollective sends only nil, booleans, numbers, strings, symbols, arrays and hashes)", c)
}

func (d *decoder) symbol() (Symbol, error) {
	at := d.off
	c, err := d.byte()
	if err != nil {
		return "", err
	}
	switch c {
	case ':':
		s, err := d.bytes()
		if err != nil {
			return "", err
		}
		if !utf8.Valid(s) {
			return "", formatErr(at, "symbol is not valid UTF-8")
		}
		d.symbols = append(d.symbols, Symbol(s))
		return Symbol(s), nil
	case ';':
		i, err := d.long()
		if err != nil {
			return "", err
		}
		if i < 0 || i >= int64(len(d.symbols)) {
			return "", formatErr(at, "symbol link %d of %d", i, len(d.symbols))
		}
		return d.symbols[i], nil
	}
	return "", formatErr(at, "want a symbol, got type %q", c)
}

// ivarString reads I"…" followed by its instance variables: only the
// encoding (:E true for UTF-8, false for US-ASCII, or :encoding with a
// name) is accepted.
func (d *decoder) ivarString(at int) (Value, error) {
	c, err := d.byte()
	if err != nil {
		return nil, err
	}
	if c != '"' {
		return nil, formatErr(at, "instance variables on type %q are not accepted (only on strings)", c)
	}
	s, err := d.bytes()
	if err != nil {
		return nil, err
	}
	idx := d.object(nil, true)
	n, err := d.length(2)
	if err != nil {
		return nil, err
	}
	if n != 1 {
		return nil, formatErr(at, "a string with %d instance variables (want its encoding only)", n)
	}
	name, err := d.symbol()
	if err != nil {
		return nil, err
	}
	vat := d.off
	switch name {
	case "E":
		c, err := d.byte()
		if err != nil {
			return nil, err
		}
		if c != 'T' && c != 'F' {
			return nil, formatErr(vat, "encoding flag :E must be true or false")
		}
	case "encoding":
		enc, err := d.value()
		if err != nil {
			return nil, err
		}
		if _, ok := enc.([]byte); !ok {
			return nil, formatErr(vat, "encoding name must be a string")
		}
	default:
		return nil, formatErr(vat, "string instance variable %q is not accepted", name)
	}
	str := string(s)
	d.objects[idx] = str
	return str, nil
}

func (d *decoder) bignum(at int) (Value, error) {
	sign, err := d.byte()
	if err != nil {
		return nil, err
	}
	if sign != '+' && sign != '-' {
		return nil, formatErr(at, "bignum sign %q", sign)
	}
	words, err := d.length(2)
	if err != nil {
		return nil, err
	}
	if words*2 > maxBignumBytes {
		return nil, formatErr(at, "bignum of %d bytes does not fit 64 bits", words*2)
	}
	var x uint64
	for i := 0; i < words*2; i++ {
		x |= uint64(d.b[d.off+i]) << (8 * i)
	}
	d.off += words * 2
	if x > math.MaxInt64 && (sign == '+' || x != 1<<63) {
		return nil, formatErr(at, "bignum does not fit 64 bits")
	}
	v := int64(x)
	if sign == '-' {
		v = -v // 1<<63 wraps to math.MinInt64, as wanted
	}
	d.object(v, true)
	return v, nil
}

func (d *decoder) float(at int) (Value, error) {
	s, err := d.bytes()
	if err != nil {
		return nil, err
	}
	if len(s) > maxFloatText {
		return nil, formatErr(at, "float text of %d bytes", len(s))
	}
	var f float64
	switch string(s) {
	case "nan":
		f = math.NaN()
	case "inf":
		f = math.Inf(1)
	case "-inf":
		f = math.Inf(-1)
	default:
		if f, err = strconv.ParseFloat(string(s), 64); err != nil {
			return nil, formatErr(at, "float %q: %v", s, err)
		}
	}
	d.object(f, true)
	return f, nil
}

func (d *decoder) enter(at int, n int) error {
	d.depth++
	if d.depth > d.lim.MaxDepth {
		return formatErr(at, "nested deeper than %d", d.lim.MaxDepth)
	}
	d.items += n
	if d.items > d.lim.MaxItems {
		return formatErr(at, "more than %d array elements and hash entries", d.lim.MaxItems)
	}
	return nil
}

func (d *decoder) array(at int) (Value, error) {
	n, err := d.length(1)
	if err != nil {
		return nil, err
	}
	if err := d.enter(at, n); err != nil {
		return nil, err
	}
	d.object(nil, false)
	a := make([]Value, 0, n)
	for range n {
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		a = append(a, v)
	}
	d.depth--
	return a, nil
}

func (d *decoder) hash(at int) (Value, error) {
	n, err := d.length(2)
	if err != nil {
		return nil, err
	}
	if err := d.enter(at, n); err != nil {
		return nil, err
	}
	d.object(nil, false)
	h := &Hash{Keys: make([]Value, 0, n), Values: make([]Value, 0, n)}
	seen := make(map[Value]struct{}, n)
	for range n {
		kat := d.off
		k, err := d.value()
		if err != nil {
			return nil, err
		}
		switch k.(type) {
		case []Value, *Hash:
			return nil, formatErr(kat, "a hash key must be a scalar")
		}
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		mk := k
		if b, ok := k.([]byte); ok {
			mk = string(b)
		}
		if _, dup := seen[mk]; dup {
			return nil, formatErr(kat, "duplicate hash key %v", k)
		}
		seen[mk] = struct{}{}
		h.Keys = append(h.Keys, k)
		h.Values = append(h.Values, v)
	}
	d.depth--
	return h, nil
}
