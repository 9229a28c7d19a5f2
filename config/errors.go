package config

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package that concerns a
// particular line of a file is an *Error wrapping one of these, so callers
// can tell "missing" (ErrNoConfig) from "invalid" (the rest) with errors.Is.
var (
	// ErrNoConfig: an explicitly named config file does not exist.
	ErrNoConfig = errors.New("config file not found")
	// ErrSyntax: a line is not of the form `key = value`.
	ErrSyntax = errors.New("syntax error")
	// ErrUnknownKey: a top-level (non plugin.) key tutti does not know.
	ErrUnknownKey = errors.New("unknown key")
	// ErrInvalidValue: a known key has a value that cannot be used.
	ErrInvalidValue = errors.New("invalid value")
	// ErrUnsupported: a recognised setting tutti deliberately refuses
	// (e.g. a security provider other than file or puppet).
	ErrUnsupported = errors.New("unsupported setting")
)

// Error locates a configuration problem: the file, the 1-based line (0 when
// the value was given with File.Set or is missing altogether) and the key.
// Err wraps one of the sentinels above.
type Error struct {
	File string
	Line int
	Key  string
	Err  error
}

// Error renders "file:line: key: reason".
func (e *Error) Error() string {
	loc := e.File
	if loc == "" {
		loc = "config"
	}
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", loc, e.Line)
	}
	if e.Key == "" {
		return fmt.Sprintf("%s: %v", loc, e.Err)
	}
	return fmt.Sprintf("%s: %s: %v", loc, e.Key, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Warning is a problem that does not stop tutti: an unknown plugin key, a
// recognised but ignored setting, a risky spelling.
type Warning struct {
	File    string
	Line    int
	Key     string
	Message string
}

// String renders "file:line: key: message" like Error.
func (w Warning) String() string {
	return (&Error{File: w.File, Line: w.Line, Key: w.Key, Err: errors.New(w.Message)}).Error()
}
