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

// AppendString appends s to b as a JSON string, escaped byte for byte as
// encoding/json escapes it with HTML escaping off: '"', '\\', control
// characters (\b, \f, \n, \r and \t by name, the others as \u00XX),
// U+2028 and U+2029. It reports false, and returns b as it was, when s is
// not valid UTF-8: embedded strings are signed bytes, and silently
// replacing invalid sequences would change what was signed (docs/protocol.md
// §1 rule 4).
func AppendString[T ~string | ~[]byte](b []byte, s T) ([]byte, bool) {
	return escapeString(b, s, false)
}

// AppendLossyString is AppendString for text that need not be UTF-8 and
// is not signed, such as the fields of an audit record: each byte that is
// not part of valid UTF-8 is written as \ufffd, as encoding/json does.
func AppendLossyString(b []byte, s string) []byte {
	b, _ = escapeString(b, s, true)
	return b
}

// escapeString is AppendString; with lossy it replaces invalid UTF-8
// instead of refusing it. One pass validates and escapes: ASCII and
// two-byte runes are checked inline, longer runes decoded.
func escapeString[T ~string | ~[]byte](b []byte, s T, lossy bool) ([]byte, bool) {
	orig := len(b)
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
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
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		if c >= 0xc2 && c <= 0xdf && i+1 < len(s) && s[i+1]&0xc0 == 0x80 {
			i += 2 // a valid two-byte rune (U+0080 to U+07FF)
			continue
		}
		// At most utf8.UTFMax bytes, so for a []byte the conversion
		// stays on the stack.
		r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		switch {
		case r == utf8.RuneError && size == 1:
			if !lossy {
				return b[:orig], false
			}
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
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
