package audit

import (
	"context"
	"errors"
	"fmt"
)

// Entry is one audit record as an Auditor sees it: something that
// encodes itself as one JSON object. The node's Record and tutti-aaa's
// signing record (aaa/signer.AuditRecord) are the two; their JSON shapes
// are wire contracts and stay with their types.
type Entry interface {
	// AppendAudit appends the record as exactly one JSON object, without
	// a newline, and returns the extended buffer. It must not keep b.
	AppendAudit(b []byte) ([]byte, error)
	// AuditID names the record in errors and logs (its request id).
	AuditID() string
}

// Auditor records audit entries. Implementations are safe for
// concurrent use and do not keep the entry after Audit returns.
//
// Audit returns only once the record is stored as far as the
// implementation goes (handed to the kernel, acknowledged by the
// stream), or with an error: a record is never dropped silently. The
// caller decides what an error means: the node refuses the action
// unless plugin.tutti.audit.required = false; tutti-aaa refuses to sign.
//
// Spool is the durable queue in front of a remote destination (a
// Publisher): records wait on disk while it is unavailable.
type Auditor interface {
	// Audit writes one record. ctx bounds waiting for a remote
	// acknowledgement; a local file ignores it.
	Audit(ctx context.Context, e Entry) error
	// Reopen reopens the output (SIGHUP, log rotation).
	Reopen() error
	// Close releases the output; later Audit calls fail with ErrClosed.
	Close() error
}

// ErrClosed is returned by Audit and Reopen after Close.
var ErrClosed = errors.New("audit: auditor is closed")

// ErrUnavailable is matched (errors.Is) by an Audit error that says the
// destination could not be reached or did not acknowledge in time: the
// record was encoded but may not be stored, and the same record may be
// stored when sent again later. An error that does not match it (an
// encoding failure, a closed auditor) will not go away by retrying.
var ErrUnavailable = errors.New("audit: destination unavailable")

// ErrPartlyStored is matched by a Multi error when at least one of its
// auditors stored the record and at least one did not.
var ErrPartlyStored = errors.New("audit: record stored by some outputs only")

// Discard returns an Auditor that drops every record (auditing off).
func Discard() Auditor { return discard{} }

type discard struct{}

func (discard) Audit(context.Context, Entry) error { return nil }
func (discard) Reopen() error                      { return nil }
func (discard) Close() error                       { return nil }

// Multi returns an Auditor that writes each record to every auditor in
// order, even when an earlier one fails, and joins their errors. When
// some stored the record and others failed, the error matches
// ErrPartlyStored (a Chain then counts the record as written: the sink
// that missed it shows a gap). Nil auditors are skipped.
func Multi(a ...Auditor) Auditor {
	m := make(multi, 0, len(a))
	for _, x := range a {
		if x != nil {
			m = append(m, x)
		}
	}
	return m
}

type multi []Auditor

func (m multi) Audit(ctx context.Context, e Entry) error {
	if _, done := e.(preEncoded); !done && len(m) > 1 { // encode once for every output
		line, err := e.AppendAudit(nil)
		if err != nil {
			return fmt.Errorf("audit: encode record %s: %w", e.AuditID(), err)
		}
		e = encoded{line: line, id: e.AuditID()}
	}
	var errs []error
	for _, a := range m {
		if err := a.Audit(ctx, e); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 && len(errs) < len(m) {
		errs = append(errs, ErrPartlyStored)
	}
	return errors.Join(errs...)
}

// encoded is an Entry already encoded: what Multi hands its outputs.
type encoded struct {
	line []byte
	id   string
}

func (e encoded) AppendAudit(b []byte) ([]byte, error) { return append(b, e.line...), nil }
func (e encoded) AuditID() string                      { return e.id }
func (encoded) preEncoded()                            {}

// preEncoded marks an Entry whose AppendAudit only copies bytes it
// holds (a Chain's stamped line): Multi hands it on as it is.
type preEncoded interface{ preEncoded() }

func (m multi) Reopen() error {
	var errs []error
	for _, a := range m {
		if err := a.Reopen(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (m multi) Close() error {
	var errs []error
	for _, a := range m {
		if err := a.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

var (
	_ Auditor = discard{}
	_ Auditor = multi(nil)
	_ Auditor = (*File)(nil)
	_ Auditor = (*JetStream)(nil)
	_ Entry   = (*Record)(nil)
)
