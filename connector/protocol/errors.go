package protocol

import (
	"errors"
	"fmt"
)

// Kind classifies a refusal so callers can count and report it.
type Kind string

// Refusal kinds. They double as metric labels and log fields.
const (
	KindMalformed       Kind = "malformed"        // JSON, base64, missing or bad fields
	KindUnknownProtocol Kind = "unknown_protocol" // protocol id not recognised
	KindTooLarge        Kind = "too_large"        // message over the size cap, filter over its limits
	KindCertificate     Kind = "certificate"      // chain, dates, usage, CRL
	KindCaller          Kind = "caller"           // callerid format, name binding, allow list, privileges
	KindSignature       Kind = "signature"        // signature or hash mismatch
	KindTTL             Kind = "ttl"              // outside the time window, ttl too large or small
	KindReplay          Kind = "replay"           // seen before within its ttl
	KindCollective      Kind = "collective"       // not a member of the collective
	KindAgent           Kind = "agent"            // agent unknown, or payload/envelope agent mismatch
	KindSubject         Kind = "subject"          // envelope agent or collective does not match the arrival subject
	KindReplyTo         Kind = "reply_to"         // reply-to is not the caller's reply subject (strict_reply_to)
	KindFilter          Kind = "filter"           // a filter the node does not understand (selects no node)
	KindGuard           Kind = "guard"            // wider than the node's blast-radius guard allows (no filter, too many targets)
)

// Error is a refusal with a kind and a human reason.
type Error struct {
	Kind   Kind
	Reason string
	Err    error // optional cause
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Kind, e.Reason, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Kind, e.Reason)
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrMalformed) and friends work on any *Error of
// the same kind.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Reason == "" && t.Err == nil && t.Kind == e.Kind
}

// Sentinels for errors.Is.
var (
	ErrMalformed       = &Error{Kind: KindMalformed}
	ErrUnknownProtocol = &Error{Kind: KindUnknownProtocol}
	ErrTooLarge        = &Error{Kind: KindTooLarge}
	ErrCertificate     = &Error{Kind: KindCertificate}
	ErrCaller          = &Error{Kind: KindCaller}
	ErrSignature       = &Error{Kind: KindSignature}
	ErrTTL             = &Error{Kind: KindTTL}
	ErrReplay          = &Error{Kind: KindReplay}
	ErrCollective      = &Error{Kind: KindCollective}
	ErrAgent           = &Error{Kind: KindAgent}
	ErrSubject         = &Error{Kind: KindSubject}
	ErrReplyTo         = &Error{Kind: KindReplyTo}
	ErrFilter          = &Error{Kind: KindFilter}
	ErrGuard           = &Error{Kind: KindGuard}
)

// Errorf builds an *Error of kind k.
func Errorf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Reason: fmt.Sprintf(format, args...)}
}

// Wrap builds an *Error of kind k around cause.
func Wrap(k Kind, cause error, format string, args ...any) *Error {
	return &Error{Kind: k, Reason: fmt.Sprintf(format, args...), Err: cause}
}

// KindOf returns the kind of err, or "" when err is not an *Error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}
