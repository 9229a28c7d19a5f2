package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// reader reads typed values out of a File, collecting every error as an
// *Error that names the key and where its value came from.
type reader struct {
	f    *File
	errs []error
}

// raw returns the value of key; empty values count as unset.
func (r *reader) raw(key string) (entry, bool) {
	e, ok := r.f.entries[key]
	if !ok || e.value == "" {
		return entry{}, false
	}
	return e, true
}

// fail records an error for key.
func (r *reader) fail(key string, err error) {
	e := r.f.entries[key]
	file := e.file
	if file == "" {
		file = r.f.Path
	}
	r.errs = append(r.errs, &Error{File: file, Line: e.line, Key: key, Err: err})
}

// invalid records an ErrInvalidValue error for key.
func (r *reader) invalid(key, format string, args ...any) {
	r.fail(key, fmt.Errorf("%w: "+format, append([]any{ErrInvalidValue}, args...)...))
}

// warn records a warning for key at its source.
func (r *reader) warn(key, msg string) {
	e := r.f.entries[key]
	if e.file == "" {
		e.file = r.f.Path
	}
	r.f.warn(e, key, msg)
}

func (r *reader) err() error { return errors.Join(r.errs...) }

func (r *reader) has(key string) bool { _, ok := r.raw(key); return ok }

func (r *reader) str(key, def string) string {
	if e, ok := r.raw(key); ok {
		return e.value
	}
	return def
}

func (r *reader) bool(key string, def bool) bool {
	e, ok := r.raw(key)
	if !ok {
		return def
	}
	b, err := ParseBool(e.value)
	if err != nil {
		r.fail(key, err)
		return def
	}
	return b
}

func (r *reader) int(key string, def int) int {
	return typed(r, key, def, parseInt)
}

func (r *reader) port(key string, def int) int {
	return typed(r, key, def, parsePort)
}

func (r *reader) float(key string, def float64) float64 {
	return typed(r, key, def, parseFloat)
}

func (r *reader) duration(key string, def time.Duration) time.Duration {
	return typed(r, key, def, parseSeconds)
}

func (r *reader) mode(key string, def os.FileMode) os.FileMode {
	return typed(r, key, def, parseMode)
}

func typed[T any](r *reader, key string, def T, parse func(string) (T, error)) T {
	e, ok := r.raw(key)
	if !ok {
		return def
	}
	v, err := parse(e.value)
	if err != nil {
		r.fail(key, err)
		return def
	}
	return v
}

// enum reads key and checks it against the key table's allowed values.
func (r *reader) enum(key, def string) string {
	v := r.str(key, def)
	if ki, ok := Lookup(key); ok && v != def {
		if err := checkValue(ki, v); err != nil {
			r.fail(key, err)
			return def
		}
	}
	return v
}

func (r *reader) list(key string, def []string) []string {
	if e, ok := r.raw(key); ok {
		if l := splitList(e.value); len(l) > 0 {
			return l
		}
	}
	return def
}

// path reads a path key: ~ expanded, relative paths against <configdir>
// (also for plugin.d values and Set values).
func (r *reader) path(key, def string) string {
	e, ok := r.raw(key)
	if !ok {
		return expandHome(def)
	}
	return resolvePath(r.f.Dir, e.value)
}

// paths reads a ':'-separated path list.
func (r *reader) paths(key string) []string {
	e, ok := r.raw(key)
	if !ok {
		return nil
	}
	var out []string
	for _, p := range splitPaths(e.value) {
		out = append(out, resolvePath(r.f.Dir, p))
	}
	return out
}

// envOr returns the environment variable name's value when set and
// non-empty, else v.
func envOr(name, v string) string {
	if s := strings.TrimSpace(os.Getenv(name)); s != "" {
		return s
	}
	return v
}
