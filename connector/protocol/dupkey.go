package protocol

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Duplicate keys. JSON readers disagree about an object that has the same
// key twice: encoding/json keeps the last, others keep the first or fail.
// A signed request with "callerid" twice would be verified for one caller
// by tutti and read as another by an audit consumer or a Choria node, so
// every layer (transport, secure request, request, filter, agent payload
// and its data, replies) refuses it. Keys that differ only in case count
// as the same key: encoding/json matches struct fields case-insensitively
// (an agent decoding its data into a struct would see "Service" as
// "service").
//
// The scanner of scan.go declines any object with a repeated key, so the
// document goes to the encoding/json path, where duplicateKey finds the
// key and the decode fails with an error naming it. Documents without
// duplicates never pay for this second walk.

// duplicateKey reports the first key that appears twice in one object of
// data (after unescaping, case-folded), as a *Error of kind malformed
// naming the key and where it is. Invalid JSON is not its business: it
// returns nil and leaves the error to encoding/json.
func duplicateKey(layer string, data []byte) error {
	type frame struct {
		obj       bool
		expectKey bool
		path      string
		keys      map[string]string // folded key → key as written
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var stack []*frame
	var lastKey string
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil // end of input, or a syntax error for json.Unmarshal to word
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				path := layer
				if top != nil {
					path = top.path + "." + lastKey
					if !top.obj {
						path = top.path + "[]"
					}
				}
				stack = append(stack, &frame{obj: d == '{', expectKey: d == '{', path: path, keys: map[string]string{}})
			default:
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].obj {
					stack[len(stack)-1].expectKey = true
				}
			}
			continue
		}
		if top == nil || !top.obj {
			continue
		}
		if !top.expectKey {
			top.expectKey = true
			continue
		}
		key, _ := tok.(string)
		folded := foldKey(key)
		if first, dup := top.keys[folded]; dup {
			if first == key {
				return Errorf(KindMalformed, "%s has key %q twice in %s", layer, key, top.path)
			}
			return Errorf(KindMalformed, "%s has key %q twice in %s (as %q and %q; keys differing only in case are the same key)",
				layer, key, top.path, first, key)
		}
		top.keys[folded] = key
		top.expectKey = false
		lastKey = key
	}
}

// foldKey maps s to a canonical case-fold: each rune becomes the smallest
// rune of its simple folding orbit (for ASCII letters, the upper case).
// Keys encoding/json folds together (it compares
// ToUpper(ToLower(r))) fold together here.
func foldKey(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToUpper(s)
	}
	var b strings.Builder
	for _, r := range s {
		min := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < min {
				min = f
			}
		}
		b.WriteRune(min)
	}
	return b.String()
}

// keySet tracks the keys of one object for the scanner. Keys are the raw
// bytes between the quotes; the scanner only calls add for keys without
// escapes. Small objects are searched linearly without allocating; a
// large one gets a map, so an object with many keys stays linear.
type keySet struct {
	small [16][]byte
	n     int
	big   map[string]struct{}
}

// add records key and reports false when it is already there (compared
// ASCII case-insensitively) or is not pure ASCII (case folding of other
// runes is left to duplicateKey on the encoding/json path).
func (k *keySet) add(key []byte) bool {
	for _, c := range key {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	if k.big != nil {
		l := strings.ToLower(string(key))
		if _, dup := k.big[l]; dup {
			return false
		}
		k.big[l] = struct{}{}
		return true
	}
	for _, have := range k.small[:k.n] {
		if bytes.EqualFold(have, key) {
			return false
		}
	}
	if k.n < len(k.small) {
		k.small[k.n] = key
		k.n++
		return true
	}
	k.big = make(map[string]struct{}, 2*len(k.small))
	for _, have := range k.small {
		k.big[strings.ToLower(string(have))] = struct{}{}
	}
	k.big[strings.ToLower(string(key))] = struct{}{}
	return true
}
