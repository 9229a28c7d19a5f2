package audit

import "errors"

// Auditor records authorization decisions. Implementations are safe for
// concurrent use.
type Auditor interface {
	// Audit writes one record. An error means the record may not be
	// stored; the caller decides whether to refuse the request
	// (plugin.tutti.audit.required).
	Audit(r *Record) error
	// Reopen reopens the output (SIGHUP, log rotation).
	Reopen() error
	// Close releases the output; later Audit calls fail with ErrClosed.
	Close() error
}

// ErrClosed is returned by Audit and Reopen after Close.
var ErrClosed = errors.New("audit: auditor is closed")

// Discard returns an Auditor that drops every record (auditing off).
func Discard() Auditor { return discard{} }

type discard struct{}

func (discard) Audit(*Record) error { return nil }
func (discard) Reopen() error       { return nil }
func (discard) Close() error        { return nil }

// Multi returns an Auditor that writes each record to every auditor in
// order, even when an earlier one fails, and joins their errors. Nil
// auditors are skipped.
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

func (m multi) Audit(r *Record) error {
	var errs []error
	for _, a := range m {
		if err := a.Audit(r); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

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
)
