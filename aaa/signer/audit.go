package signer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/tuttifleet/tutti/aaa/audit"
)

// AuditProtocol names the signer audit record (aaasvc's JetStream shape).
const AuditProtocol = "io.choria.signer.v1.signature_audit"

// Audit decisions (the record's action field).
const (
	DecisionAllow = "allow"
	DecisionDeny  = "deny"
)

// AuditRecord is one signing decision (docs/central-aaa.md), written by the
// audit package's auditors (tutti-aaa's "logfile" and "jetstream"). The
// first six fields are aaasvc's; the rest are tutti's. Its JSON is a
// wire contract: record_test.go holds it byte for byte.
type AuditRecord struct {
	Protocol string `json:"protocol"`
	// CallerID is the token's callerid when the token verified, else the
	// request's.
	CallerID string `json:"callerid"`
	// Action is the decision: allow or deny.
	Action string `json:"action"`
	Site   string `json:"site"`
	Time   int64  `json:"time"`
	// Request is the choria:request:1: the signed one when allowed, the
	// one received when denied.
	Request   json.RawMessage `json:"request"`
	RequestID string          `json:"request_id"`
	// Reason says why a request was denied, or "bearer" for a request
	// allowed without proof of possession.
	Reason string `json:"reason,omitempty"`
	// ErrorCode is the error_code sent to the client on a denial.
	ErrorCode string `json:"error_code,omitempty"`
	// RequestedCallerID is the callerid the request carried when it
	// differed from the one signed.
	RequestedCallerID string `json:"requested_callerid,omitempty"`
	// Signer is the name (certificate CN) of the privileged certificate
	// that signs, the name every node's record gives as its signer: the
	// join between this record and the nodes' (tutti audit show).
	Signer string `json:"signer,omitempty"`
	// ApprovalID names the approval of a held request (two-person
	// approval): on its pending, approved, denied and expired records
	// and on the allow record of its signature.
	ApprovalID string `json:"approval_id,omitempty"`
	// Approver is the callerid of who approved or denied it.
	Approver string `json:"approver,omitempty"`
}

// AppendAudit implements audit.Entry: the record as encoding/json
// writes it (aaasvc's bytes, HTML characters escaped), with invalid
// UTF-8 in the request replaced by U+FFFD as encoding/json does in the
// other strings (it copies a RawMessage's bytes as they are).
func (r *AuditRecord) AppendAudit(b []byte) ([]byte, error) {
	if !utf8.Valid(r.Request) {
		c := *r
		c.Request = bytes.ToValidUTF8(r.Request, []byte("\uFFFD"))
		r = &c
	}
	data, err := json.Marshal(r)
	if err != nil {
		return b, fmt.Errorf("encode signer audit record: %w", err)
	}
	return append(b, data...), nil
}

// AuditID implements audit.Entry.
func (r *AuditRecord) AuditID() string { return r.RequestID }

var _ audit.Entry = (*AuditRecord)(nil)
