package protocol

import (
	"strconv"
	"unicode/utf8"
)

// A small allocation-free JSON writer for the fixed shapes of the v1
// layers. encoding/json would do, but the node encodes a reply for every
// request and the client decodes thousands per second; writing the few
// known fields by hand keeps field order stable (golden tests) and costs
// nothing.

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. It reports false when s is not
// valid UTF-8: embedded strings are signed bytes, and silently replacing
// invalid sequences would change what was signed (PROTOCOL.md §1 rule 4).
func appendString[T ~string | ~[]byte](b []byte, s T) ([]byte, bool) {
	var valid bool
	switch v := any(s).(type) {
	case string:
		valid = utf8.ValidString(v)
	case []byte:
		valid = utf8.Valid(v)
	default:
		valid = utf8.ValidString(string(s))
	}
	if !valid {
		return b, false
	}
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"':
			b = append(b, '\\', '"')
		case '\\':
			b = append(b, '\\', '\\')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"'), true
}

func appendKey(b []byte, key string) []byte {
	b = append(b, '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

func appendInt(b []byte, n int64) []byte { return strconv.AppendInt(b, n, 10) }
