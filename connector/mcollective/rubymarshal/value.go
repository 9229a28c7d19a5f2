// Package rubymarshal reads and writes the subset of Ruby's Marshal 4.8
// format that MCollective 2.12 puts on the wire (docs/mcollective.md):
// nil, true, false, integers (fixnums and bignums that fit in an int64),
// floats, byte strings, UTF-8 and US-ASCII strings, symbols, arrays and
// hashes, plus the symbol and object back-references Ruby writes for
// repeats.
//
// A Marshal stream is untrusted input: Unmarshal never instantiates
// anything (object, user-defined, extended and class records — the
// types through which Ruby's own Marshal.load runs code — are refused),
// refuses links to arrays and hashes (so no cycles and no exponential
// expansion), bounds nesting depth and checks every length against the
// bytes that remain before allocating.
package rubymarshal

import (
	"errors"
	"fmt"
)

// Symbol is a Ruby Symbol (:name).
type Symbol string

// ASCII is a String Marshal writes with the US-ASCII encoding (as Ruby
// has hex digests and base64 text). Unmarshal returns such strings as
// plain Go strings.
type ASCII string

// Value is one decoded value: nil, bool, int64, float64, []byte (a raw
// "binary" String), string (a String with an encoding: UTF-8 or
// US-ASCII), Symbol, []Value or *Hash.
type Value = any

// Hash is a Ruby Hash; it keeps the order of its keys, as Ruby does.
type Hash struct {
	Keys   []Value
	Values []Value
}

// Set sets key to v, replacing an existing entry with an equal key.
func (h *Hash) Set(key, v Value) *Hash {
	for i, k := range h.Keys {
		if equalKey(k, key) {
			h.Values[i] = v
			return h
		}
	}
	h.Keys = append(h.Keys, key)
	h.Values = append(h.Values, v)
	return h
}

// Get returns the value of key (a Symbol, a string or another scalar).
func (h *Hash) Get(key Value) (Value, bool) {
	if h == nil {
		return nil, false
	}
	for i, k := range h.Keys {
		if equalKey(k, key) {
			return h.Values[i], true
		}
	}
	return nil, false
}

// Len is the number of entries.
func (h *Hash) Len() int {
	if h == nil {
		return 0
	}
	return len(h.Keys)
}

func equalKey(a, b Value) bool {
	switch x := a.(type) {
	case []byte:
		if y, ok := b.([]byte); ok {
			return string(x) == string(y)
		}
		if y, ok := b.(string); ok {
			return string(x) == y
		}
		return false
	case string:
		if y, ok := b.([]byte); ok {
			return x == string(y)
		}
	case []Value, *Hash:
		return false
	}
	switch b.(type) {
	case []byte, []Value, *Hash:
		return false
	}
	return a == b
}

// Str returns v as a string when it is a String (binary or not).
func Str(v Value) (string, bool) {
	switch s := v.(type) {
	case string:
		return s, true
	case []byte:
		return string(s), true
	}
	return "", false
}

// Int returns v as an integer when it is one.
func Int(v Value) (int64, bool) {
	i, ok := v.(int64)
	return i, ok
}

// Sym builds a Hash with Symbol keys from alternating name, value pairs
// (a test and encoder convenience).
func Sym(kv ...Value) *Hash {
	h := &Hash{}
	for i := 0; i+1 < len(kv); i += 2 {
		k := kv[i]
		if s, ok := k.(string); ok {
			k = Symbol(s)
		}
		h.Set(k, kv[i+1])
	}
	return h
}

// ErrFormat is wrapped by every refusal of a malformed or disallowed
// stream.
var ErrFormat = errors.New("ruby marshal")

func formatErr(off int, f string, a ...any) error {
	return fmt.Errorf("%w: offset %d: %s", ErrFormat, off, fmt.Sprintf(f, a...))
}
