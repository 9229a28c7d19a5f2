package audit

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
)

// TimeLayout is the timestamp format of a record, always written in UTC:
// microseconds and a numeric offset without colon ("+0000").
const TimeLayout = "2006-01-02T15:04:05.000000-0700"

// Record is one audit record (AAA.md §4.1 and §4.2). The JSON field order
// is the order of the fields below.
type Record struct {
	Timestamp   time.Time       // time of the audit; File uses the current time when zero
	RequestID   string          // envelope requestid
	RequestTime int64           // envelope time (Unix seconds)
	Caller      string          // envelope callerid
	Sender      string          // envelope senderid (unauthenticated)
	Agent       string          // agent
	Action      string          // action
	Data        json.RawMessage // request data exactly as received ({} when absent)

	// tutti's fields, written only when Decision is set (a record without
	// them is byte-for-byte Choria's).
	Decision   string // "allow" | "deny"
	Reason     string // deny reason, "authorization disabled", or ""
	Identity   string // this node's identity
	Collective string // envelope collective
	Policy     string // policy file that decided, "" when unconfigured
	Signer     string // CN of the privileged signing certificate, or ""
}

// Decisions written in Record.Decision.
const (
	Allow = "allow"
	Deny  = "deny"
)

// AppendJSON appends r as exactly one JSON object (no trailing newline)
// and returns the extended buffer. Strings are escaped as encoding/json
// does (without HTML escaping): control characters, invalid UTF-8 (as
// U+FFFD), U+2028 and U+2029. Data is copied as received when it is valid
// JSON on one line; multi-line JSON is compacted, and bytes that are not
// JSON are written as a JSON string so the line stays parseable.
func (r *Record) AppendJSON(b []byte) []byte { return r.appendJSON(b, r.Timestamp) }

func (r *Record) appendJSON(b []byte, ts time.Time) []byte {
	b = append(b, `{"timestamp":"`...)
	b = ts.UTC().AppendFormat(b, TimeLayout)
	b = append(b, `","request_id":`...)
	b = appendString(b, r.RequestID)
	b = append(b, `,"request_time":`...)
	b = strconv.AppendInt(b, r.RequestTime, 10)
	b = append(b, `,"caller":`...)
	b = appendString(b, r.Caller)
	b = append(b, `,"sender":`...)
	b = appendString(b, r.Sender)
	b = append(b, `,"agent":`...)
	b = appendString(b, r.Agent)
	b = append(b, `,"action":`...)
	b = appendString(b, r.Action)
	b = append(b, `,"data":`...)
	b = appendData(b, r.Data)
	if r.Decision != "" {
		b = append(b, `,"decision":`...)
		b = appendString(b, r.Decision)
		b = append(b, `,"reason":`...)
		b = appendString(b, r.Reason)
		b = append(b, `,"identity":`...)
		b = appendString(b, r.Identity)
		b = append(b, `,"collective":`...)
		b = appendString(b, r.Collective)
		b = append(b, `,"policy":`...)
		b = appendString(b, r.Policy)
		b = append(b, `,"signer":`...)
		b = appendString(b, r.Signer)
	}
	return append(b, '}')
}

func appendData(b []byte, d json.RawMessage) []byte {
	switch {
	case len(bytes.TrimSpace(d)) == 0:
		return append(b, "{}"...)
	case !json.Valid(d):
		return appendString(b, string(d))
	case bytes.ContainsAny(d, "\r\n"):
		var buf bytes.Buffer
		_ = json.Compact(&buf, d) // d is valid
		return append(b, buf.Bytes()...)
	}
	return append(b, d...)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
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
	return append(b, '"')
}
