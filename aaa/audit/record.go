package audit

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/tuttifleet/tutti/connector/protocol"
)

// TimeLayout is the timestamp format of a record, always written in UTC:
// microseconds and a numeric offset without colon ("+0000").
const TimeLayout = "2006-01-02T15:04:05.000000-0700"

// Record is one node audit record (docs/operations.md). The JSON field order
// is the order of the fields below.
type Record struct {
	Timestamp   time.Time       // time of the audit; AppendAudit uses the current time when zero
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
	// Approval is the second person's approval the privileged signer
	// put in the request ({"id","requester","approver"}); empty: none,
	// and not written.
	Approval json.RawMessage

	// Trace fields (tutti audit show), added beside the others.
	Type     string          // "" for a decision record, TypeOutcome for an outcome record
	Received time.Time       // decision: when the node received the request; zero: not written
	Filter   json.RawMessage // decision: the request's filter as JSON; empty: not written

	// Outcome fields, written only when Type is TypeOutcome.
	StatusCode int           // the reply's statuscode
	StatusMsg  string        // the reply's statusmsg
	Started    time.Time     // when the action started
	Duration   time.Duration // how long the action ran
}

// TypeOutcome is the type of the record a node writes after an action
// ran (its status code and timing). A record without a type is a
// decision record, written before the action, as it always was.
const TypeOutcome = "outcome"

// Decisions written in Record.Decision.
const (
	Allow = "allow"
	Deny  = "deny"
)

// AppendJSON appends r as exactly one JSON object (no trailing newline)
// and returns the extended buffer. Strings are written by
// protocol.AppendLossyString, byte for byte as encoding/json writes them
// without HTML escaping: control characters, invalid UTF-8 (as U+FFFD),
// U+2028 and U+2029 escaped. Data is copied as received when it is valid
// JSON on one line, with invalid UTF-8 replaced by U+FFFD; multi-line
// JSON is compacted, and bytes that are not JSON are written as a JSON
// string so the line stays parseable.
func (r *Record) AppendJSON(b []byte) []byte { return r.appendJSON(b, r.Timestamp) }

// AppendAudit implements Entry: AppendJSON, with a zero Timestamp
// written as the current time (r is not modified).
func (r *Record) AppendAudit(b []byte) ([]byte, error) {
	ts := r.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	return r.appendJSON(b, ts), nil
}

// AuditID implements Entry.
func (r *Record) AuditID() string { return r.RequestID }

func (r *Record) appendJSON(b []byte, ts time.Time) []byte {
	if r.Type == TypeOutcome {
		return r.appendOutcome(b, ts)
	}
	b = append(b, `{"timestamp":"`...)
	b = ts.UTC().AppendFormat(b, TimeLayout)
	b = append(b, `","request_id":`...)
	b = protocol.AppendLossyString(b, r.RequestID)
	b = append(b, `,"request_time":`...)
	b = strconv.AppendInt(b, r.RequestTime, 10)
	b = append(b, `,"caller":`...)
	b = protocol.AppendLossyString(b, r.Caller)
	b = append(b, `,"sender":`...)
	b = protocol.AppendLossyString(b, r.Sender)
	b = append(b, `,"agent":`...)
	b = protocol.AppendLossyString(b, r.Agent)
	b = append(b, `,"action":`...)
	b = protocol.AppendLossyString(b, r.Action)
	b = append(b, `,"data":`...)
	b = appendData(b, r.Data)
	if r.Decision != "" {
		b = append(b, `,"decision":`...)
		b = protocol.AppendLossyString(b, r.Decision)
		b = append(b, `,"reason":`...)
		b = protocol.AppendLossyString(b, r.Reason)
		b = append(b, `,"identity":`...)
		b = protocol.AppendLossyString(b, r.Identity)
		b = append(b, `,"collective":`...)
		b = protocol.AppendLossyString(b, r.Collective)
		b = append(b, `,"policy":`...)
		b = protocol.AppendLossyString(b, r.Policy)
		b = append(b, `,"signer":`...)
		b = protocol.AppendLossyString(b, r.Signer)
		if len(r.Approval) > 0 {
			b = append(b, `,"approval":`...)
			b = appendData(b, r.Approval)
		}
		b = r.appendTrace(b)
	}
	return append(b, '}')
}

func appendData(b []byte, d json.RawMessage) []byte {
	switch {
	case len(bytes.TrimSpace(d)) == 0:
		return append(b, "{}"...)
	case !json.Valid(d):
		return protocol.AppendLossyString(b, string(d))
	case bytes.ContainsAny(d, "\r\n"):
		var buf bytes.Buffer
		_ = json.Compact(&buf, d) // d is valid
		d = buf.Bytes()
	}
	if !utf8.Valid(d) {
		// json.Valid and json.Compact pass invalid UTF-8 through, a
		// strict reader refuses it. Outside strings JSON is ASCII, so the
		// text stays valid JSON.
		d = bytes.ToValidUTF8(d, []byte("\uFFFD"))
	}
	return append(b, d...)
}
