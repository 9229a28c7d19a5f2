package actionpolicy

import (
	"errors"
	"fmt"
)

// ErrPolicy matches every *PolicyError with errors.Is: the request was
// denied because a policy file, or the rule that matched the caller and
// action, is broken.
var ErrPolicy = errors.New("policy error")

// PolicyError says why a policy file was refused, or why the rule that
// matched a request could not be evaluated. It always names the file and,
// when the problem is in the text, the line (1-based).
type PolicyError struct {
	File   string // policy file name, e.g. "rpcutil.policy"
	Line   int    // 1-based line number; 0 when the whole file is affected (unreadable)
	Reason string // what is wrong
	Err    error  // optional cause
}

// Error renders the docs/actionpolicy.md §2.7 wording:
// "policy error in <file> line <n>: <why>".
func (e *PolicyError) Error() string {
	msg := e.Reason
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	if e.Line > 0 {
		return fmt.Sprintf("policy error in %s line %d: %s", e.File, e.Line, msg)
	}
	return fmt.Sprintf("policy error in %s: %s", e.File, msg)
}

// Unwrap returns the cause.
func (e *PolicyError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrPolicy) true for every *PolicyError.
func (e *PolicyError) Is(target error) bool { return target == ErrPolicy }

// Warning is a problem in a policy or groups file that does not refuse
// the file: the line is ignored (or, for lint-style warnings, kept) and
// the warning is logged when the file is loaded and shown by
// `tutti policy check`.
type Warning struct {
	Line    int
	Message string
}

// String renders "line <n>: <message>".
func (w Warning) String() string { return fmt.Sprintf("line %d: %s", w.Line, w.Message) }
