package protocol

import (
	"bytes"
	"encoding/binary"
	"unicode/utf16"
	"unicode/utf8"
)

// A small JSON scanner for the fixed shapes of the v1 layers.
//
// It is a fast path only. Every method reports false for anything it is
// not certain encoding/json would decode to the same value: a syntax
// error, a key that matches a field only case-insensitively (encoding/json
// folds case), a repeated key at any depth (refused on the encoding/json
// path, see dupkey.go), null,
// invalid UTF-8 (encoding/json replaces it with U+FFFD), a \u escape of a
// surrogate, a number that is not a plain integer, nesting deeper than
// maxDepth. The caller then decodes the document again with encoding/json,
// so every refusal keeps its encoding/json wording and every accepted
// document decodes exactly as before. FuzzFastDecode checks this.

// maxDepth bounds the nesting the scanner follows when it skips a value.
const maxDepth = 256

// Scanner reads one JSON document. Decoders describe each object by a
// table of Fields whose Decode functions read their member's value with
// the Scanner's methods (outside this package, String).
type Scanner struct {
	b []byte
	i int
}

// NewScanner returns a Scanner at the start of data.
func NewScanner(data []byte) *Scanner { return &Scanner{b: data} }

// End reports whether only white space is left, as encoding/json requires
// after a document.
func (s *Scanner) End() bool { return s.atEnd() }

// String reads a string value. It reports false for anything else
// (null included) and for strings encoding/json would not decode to the
// same Go string (invalid UTF-8, an escaped surrogate).
func (s *Scanner) String() (string, bool) { return s.stringValue() }

// Field is one row of the table of an object's members: the key, as
// encoding/json would match it against a struct field's tag; Required
// when the scanner may only accept the object with that member present
// (without it, the decoder's encoding/json path words the refusal); and
// Decode, which reads the member's value with the Scanner it holds into
// the document it holds, consuming exactly the value, and reports false
// when it cannot.
//
// A table is written where the document is (a slice literal of closures
// over the Scanner and the document), not in a package variable: the
// compiler then keeps the Scanner and the document on the stack, which
// functions reached through a package-level table would not let it do.
type Field struct {
	Key      string
	Required bool
	Decode   func() bool
}

// Fields reads an object whose members are described by fields. Keys in
// no field are skipped when encoding/json would skip them too (see
// ignore). It reports false, leaving the document to encoding/json, for
// anything it is not certain encoding/json would decode to the same
// value: a key twice (in any case), a missing Required member, and what
// the Scanner's methods refuse. At most 32 fields.
func (s *Scanner) Fields(fields ...Field) bool { return s.fields(nil, fields) }

// fields is Fields that calls unknown, when not nil, with each key in no
// field before skipping its value.
func (s *Scanner) fields(unknown func(key []byte), fields []Field) bool {
	if len(fields) > 32 {
		return false
	}
	var seen, required uint32
	for i := range fields {
		if fields[i].Required {
			required |= 1 << i
		}
	}
	ok := s.object(func(k []byte) bool {
		for i := range fields {
			if string(k) == fields[i].Key {
				bit := uint32(1) << i
				if seen&bit != 0 { // object refuses repeated keys already; kept so a mask never counts one twice
					return false
				}
				seen |= bit
				return fields[i].Decode()
			}
		}
		if unknown != nil {
			unknown(k)
		}
		return s.ignore(k, fields)
	})
	return ok && seen&required == required
}

// next skips whitespace and returns the next byte, or 0 at the end.
func (s *Scanner) next() byte {
	for s.i < len(s.b) {
		switch c := s.b[s.i]; c {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return c
		}
	}
	return 0
}

// eat consumes c after optional whitespace.
func (s *Scanner) eat(c byte) bool {
	if s.next() != c {
		return false
	}
	s.i++
	return true
}

// atEnd reports whether only whitespace remains.
func (s *Scanner) atEnd() bool {
	s.next()
	return s.i == len(s.b)
}

// object scans an object, calling member with each key; member must
// consume the value. Keys with escapes, keys that are not ASCII and
// repeated keys (in any case) are not handled: see dupkey.go.
func (s *Scanner) object(member func(key []byte) bool) bool {
	if !s.eat('{') {
		return false
	}
	if s.eat('}') {
		return true
	}
	var keys keySet
	for {
		key, esc, _, ok := s.rawString()
		if !ok || esc || !keys.add(key) || !s.eat(':') || !member(key) {
			return false
		}
		switch s.next() {
		case ',':
			s.i++
		case '}':
			s.i++
			return true
		default:
			return false
		}
	}
}

// array scans an array, calling elem for each element; elem must consume
// it. An empty array calls elem never.
func (s *Scanner) array(elem func() bool) bool {
	if !s.eat('[') {
		return false
	}
	if s.eat(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		switch s.next() {
		case ',':
			s.i++
		case ']':
			s.i++
			return true
		default:
			return false
		}
	}
}

// rawString scans a string and returns the bytes between the quotes,
// whether they contain escapes, and, when they do not, whether they are
// all ASCII (so valid UTF-8). Escapes and control characters are
// checked; UTF-8 is not.
func (s *Scanner) rawString() (raw []byte, esc, ascii, ok bool) {
	if s.next() != '"' {
		return nil, false, false, false
	}
	start := s.i + 1
	end := bytes.IndexByte(s.b[start:], '"')
	if end < 0 {
		return nil, false, false, false
	}
	end += start
	if bytes.IndexByte(s.b[start:end], '\\') < 0 {
		plain, ascii := plainText(s.b[start:end])
		if !plain {
			return nil, false, false, false
		}
		s.i = end + 1
		return s.b[start:end], false, ascii, true
	}
	for i := start; i < len(s.b); i++ {
		switch c := s.b[i]; {
		case c == '"':
			s.i = i + 1
			return s.b[start:i], true, false, true
		case c == '\\':
			i++
			if i >= len(s.b) {
				return nil, false, false, false
			}
			switch s.b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(s.b) {
					return nil, false, false, false
				}
				if _, ok := hex4(s.b[i+1 : i+5]); !ok {
					return nil, false, false, false
				}
				i += 4
			default:
				return nil, false, false, false
			}
		case c < 0x20:
			return nil, false, false, false
		}
	}
	return nil, false, false, false
}

// bytesValue scans a string and returns its decoded value. Without
// escapes the result aliases the input unless own is set.
func (s *Scanner) bytesValue(own bool) ([]byte, bool) {
	raw, esc, ascii, ok := s.rawString()
	if !ok {
		return nil, false
	}
	if esc {
		return unescape(raw)
	}
	if !ascii && !utf8.Valid(raw) {
		return nil, false
	}
	if own {
		return bytes.Clone(raw), true
	}
	return raw, true
}

// stringValue scans a string into a Go string.
func (s *Scanner) stringValue() (string, bool) {
	b, ok := s.bytesValue(false)
	return string(b), ok
}

// stringList scans an array of strings into a non-nil slice, as
// encoding/json does for [].
func (s *Scanner) stringList() ([]string, bool) {
	out := []string{}
	ok := s.array(func() bool {
		v, ok := s.stringValue()
		out = append(out, v)
		return ok
	})
	return out, ok
}

// integer scans a JSON number that is a plain integer fitting an int64.
func (s *Scanner) integer() (int64, bool) {
	s.next()
	b, i := s.b, s.i
	neg := i < len(b) && b[i] == '-'
	if neg {
		i++
	}
	start := i
	var n uint64
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if n > (1<<63)/10 {
			return 0, false
		}
		n = n*10 + uint64(b[i]-'0')
	}
	switch {
	case i == start, b[start] == '0' && i-start > 1:
		return 0, false
	case i < len(b) && (b[i] == '.' || b[i] == 'e' || b[i] == 'E'):
		return 0, false
	case neg && n > 1<<63, !neg && n > 1<<63-1:
		return 0, false
	}
	s.i = i
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}

// rawValue scans any value other than null and returns a copy of its
// bytes, as json.RawMessage holds them.
func (s *Scanner) rawValue() ([]byte, bool) {
	if s.next() == 'n' {
		return nil, false
	}
	start := s.i
	if !s.skip(0) {
		return nil, false
	}
	return bytes.Clone(s.b[start:s.i]), true
}

// skip scans and checks one value of any kind.
func (s *Scanner) skip(depth int) bool {
	if depth > maxDepth {
		return false
	}
	switch c := s.next(); {
	case c == '"':
		_, _, _, ok := s.rawString()
		return ok
	case c == '{':
		return s.object(func([]byte) bool { return s.skip(depth + 1) })
	case c == '[':
		return s.array(func() bool { return s.skip(depth + 1) })
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	}
	return false
}

func (s *Scanner) literal(word string) bool {
	if !bytes.HasPrefix(s.b[s.i:], []byte(word)) {
		return false
	}
	s.i += len(word)
	return true
}

// number scans a JSON number: -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?
func (s *Scanner) number() bool {
	b, i := s.b, s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			n++
		}
		return n
	}
	first := i
	switch n := digits(); {
	case n == 0, n > 1 && b[first] == '0':
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	s.i = i
	return true
}

// ignore skips the value of a key that is not a field. encoding/json
// matches keys case-insensitively (with Unicode folding), so only a pure
// ASCII key that folds to none of fields is certainly ignored by it.
func (s *Scanner) ignore(key []byte, fields []Field) bool {
	for _, c := range key {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	for _, f := range fields {
		if bytes.EqualFold(key, []byte(f.Key)) {
			return false
		}
	}
	return s.skip(0)
}

// unescape decodes the body of a JSON string with escapes. It reports
// false for escaped surrogates and invalid UTF-8, which encoding/json
// would replace with U+FFFD.
func unescape(raw []byte) ([]byte, bool) {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		j := bytes.IndexByte(raw[i:], '\\')
		if j < 0 {
			out = append(out, raw[i:]...)
			break
		}
		out = append(out, raw[i:i+j]...)
		i += j
		switch c := raw[i+1]; c {
		case '"', '\\', '/':
			out = append(out, c)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, _ := hex4(raw[i+2 : i+6])
			if utf16.IsSurrogate(r) {
				return nil, false
			}
			out = utf8.AppendRune(out, r)
			i += 6
			continue
		}
		i += 2
	}
	if !validUTF8(out) {
		return nil, false
	}
	return out, true
}

// plainText reports whether b has no control character (below 0x20),
// which a JSON string may not hold unescaped, and whether it is all
// ASCII. It reads eight bytes at a time: the strings it sees are the
// large ones (certificates, signed messages, tokens).
func plainText(b []byte) (plain, ascii bool) {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	var or uint64
	for len(b) >= 8 {
		x := binary.LittleEndian.Uint64(b)
		if (x-0x20*ones)&^x&highs != 0 { // some byte is below 0x20
			return false, false
		}
		or |= x
		b = b[8:]
	}
	for _, c := range b {
		if c < 0x20 {
			return false, false
		}
		or |= uint64(c)
	}
	return true, or&highs == 0
}

func validUTF8(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return utf8.Valid(b)
		}
	}
	return true
}

func hex4(b []byte) (rune, bool) {
	var r rune
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
