package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Kinds of Event.
const (
	KindDecision = "decision" // a node's record, written before the action
	KindOutcome  = "outcome"  // a node's record, written after the action
	KindSigner   = "signer"   // tutti-aaa's signing decision
	KindOther    = "other"    // a record of a type this reader does not trace (a checkpoint…)
)

// signerProtocol is the protocol field of tutti-aaa's records
// (aaa/signer.AuditProtocol; that package imports this one).
const signerProtocol = "io.choria.signer.v1.signature_audit"

// Event is one audit line of any writer, decoded into the fields a trace
// of a request needs (tutti audit show and tail). It is a reader's view:
// the writers' types (Record, aaa/signer.AuditRecord) stay the wire
// contracts, and a field a record lacks is left zero.
type Event struct {
	Kind      string          `json:"kind"`
	Time      time.Time       `json:"time"` // when the record was written
	RequestID string          `json:"request_id"`
	Caller    string          `json:"caller,omitempty"`
	Agent     string          `json:"agent,omitempty"`
	Action    string          `json:"action,omitempty"`
	Data      json.RawMessage `json:"data,omitempty"`
	Filter    json.RawMessage `json:"filter,omitempty"`
	// Identity is the node (decision and outcome records).
	Identity   string `json:"identity,omitempty"`
	Collective string `json:"collective,omitempty"`
	// Signer names the signing certificate: the one the node saw, or
	// tutti-aaa's own.
	Signer string `json:"signer,omitempty"`
	// Site is tutti-aaa's site (signer records).
	Site string `json:"site,omitempty"`
	// Decision is allow or deny (decision and signer records).
	Decision  string `json:"decision,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Policy    string `json:"policy,omitempty"`
	ErrorCode string `json:"error_code,omitempty"`
	// Received is when the node received the request (decision records
	// that carry it).
	Received time.Time `json:"received,omitzero"`
	// StatusCode, StatusMsg, Started and Duration are the outcome's.
	StatusCode *int          `json:"statuscode,omitempty"`
	StatusMsg  string        `json:"statusmsg,omitempty"`
	Started    time.Time     `json:"started,omitzero"`
	Duration   time.Duration `json:"duration,omitempty"`
	// Approver is the second person who approved the request, and
	// ApprovalID the approval: from tutti-aaa's records (approver,
	// approval_id) or a node's (the approval the signer put in the
	// request).
	Approver   string `json:"approver,omitempty"`
	ApprovalID string `json:"approval_id,omitempty"`
}

// ErrNotRecord is matched by a DecodeEvent error for a line that is not
// a JSON object with a request_id (or a type).
var ErrNotRecord = errors.New("not an audit record")

// line is the union of the fields of every record shape.
type line struct {
	Type      string `json:"type"`
	Protocol  string `json:"protocol"`
	Timestamp string `json:"timestamp"`
	// Time is tutti-aaa's Unix seconds; a checkpoint's is a string (its
	// own record shape), so it is read raw and decoded where it is used.
	Time       json.RawMessage `json:"time"`
	RequestID  string          `json:"request_id"`
	Caller     string          `json:"caller"`
	CallerID   string          `json:"callerid"`
	Agent      string          `json:"agent"`
	Action     string          `json:"action"`
	Data       json.RawMessage `json:"data"`
	Filter     json.RawMessage `json:"filter"`
	Identity   string          `json:"identity"`
	Collective string          `json:"collective"`
	Signer     string          `json:"signer"`
	Site       string          `json:"site"`
	Decision   string          `json:"decision"`
	Reason     string          `json:"reason"`
	Policy     string          `json:"policy"`
	ErrorCode  string          `json:"error_code"`
	Received   string          `json:"received"`
	StatusCode *int            `json:"statuscode"`
	StatusMsg  string          `json:"statusmsg"`
	Started    string          `json:"started"`
	DurationMS float64         `json:"duration_ms"`
	Request    json.RawMessage `json:"request"`
	Approver   string          `json:"approver"`
	ApprovalID string          `json:"approval_id"`
	Approval   json.RawMessage `json:"approval"`
}

// signedRequest is the part of a choria:request:1 a signer record holds.
type signedRequest struct {
	Message  string `json:"message"`
	Envelope struct {
		Agent      string          `json:"agent"`
		Collective string          `json:"collective"`
		Filter     json.RawMessage `json:"filter"`
	} `json:"envelope"`
}

// DecodeEvent decodes one audit line: a node's decision or outcome
// record or a tutti-aaa record. Records of other types (checkpoints)
// decode as KindOther with what they share. Times that do not parse are
// left zero; only a line that is not a record is an error.
func DecodeEvent(b []byte) (Event, error) {
	var l line
	if err := json.Unmarshal(bytes.TrimSpace(b), &l); err != nil {
		return Event{}, fmt.Errorf("%w: %w", ErrNotRecord, err)
	}
	if l.RequestID == "" && l.Type == "" {
		return Event{}, fmt.Errorf("%w: no request_id", ErrNotRecord)
	}
	e := Event{
		RequestID: l.RequestID, Caller: l.Caller, Agent: l.Agent, Action: l.Action, Identity: l.Identity,
		Collective: l.Collective, Signer: l.Signer, Reason: l.Reason, Policy: l.Policy, Time: parseTime(l.Timestamp),
		Approver: l.Approver, ApprovalID: l.ApprovalID,
	}
	if e.Approver == "" && len(l.Approval) > 0 {
		var a struct {
			ID       string `json:"id"`
			Approver string `json:"approver"`
		}
		if json.Unmarshal(l.Approval, &a) == nil {
			e.Approver, e.ApprovalID = a.Approver, a.ID
		}
	}
	switch {
	case l.Protocol == signerProtocol:
		e.Kind, e.Caller, e.Decision, e.Site, e.ErrorCode = KindSigner, l.CallerID, l.Action, l.Site, l.ErrorCode
		var secs int64
		_ = json.Unmarshal(l.Time, &secs) // not a number: left at the epoch, as a time that does not parse
		e.Action, e.Time = "", time.Unix(secs, 0).UTC()
		decodeSigned(&e, l.Request)
	case l.Type == TypeOutcome:
		e.Kind, e.StatusCode, e.StatusMsg, e.Started = KindOutcome, l.StatusCode, l.StatusMsg, parseTime(l.Started)
		e.Duration = time.Duration(l.DurationMS * float64(time.Millisecond))
	case l.Type != "":
		e.Kind = KindOther
	default:
		e.Kind, e.Decision, e.Received = KindDecision, l.Decision, parseTime(l.Received)
		e.Data, e.Filter = compact(l.Data), compact(l.Filter)
	}
	return e, nil
}

// decodeSigned fills agent, action, data and filter from the request a
// signer record holds; a request that does not decode leaves them empty.
func decodeSigned(e *Event, raw json.RawMessage) {
	var r signedRequest
	if len(raw) == 0 || json.Unmarshal(raw, &r) != nil {
		return
	}
	e.Agent, e.Collective, e.Filter = r.Envelope.Agent, r.Envelope.Collective, compact(r.Envelope.Filter)
	var p struct {
		Action string          `json:"action"`
		Data   json.RawMessage `json:"data"`
	}
	if json.Unmarshal([]byte(r.Message), &p) == nil {
		e.Action, e.Data = p.Action, compact(p.Data)
	}
}

func parseTime(s string) time.Time {
	t, err := time.Parse(TimeLayout, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

func compact(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return nil
	}
	return buf.Bytes()
}

// MessageLines returns the records of one audit stream message: a
// writer's spool puts several of its consecutive records in one message,
// one line each (see SpoolConfig.Linger); a message of one record is
// that record's line. Empty lines are skipped. The lines are slices of
// msg.
func MessageLines(msg []byte) [][]byte {
	var out [][]byte
	for len(msg) > 0 {
		i := bytes.IndexByte(msg, '\n')
		l := msg
		if i >= 0 {
			l, msg = msg[:i], msg[i+1:]
		} else {
			msg = nil
		}
		if len(bytes.TrimSpace(l)) > 0 {
			out = append(out, l)
		}
	}
	return out
}
