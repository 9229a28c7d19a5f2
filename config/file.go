package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// maxFileSize bounds what Parse reads; real configs are a few KiB.
const maxFileSize = 4 << 20

// setSource is the file name recorded for values given with File.Set.
const setSource = "(set)"

// pluginDirName matches <name> of <configdir>/plugin.d/<name>.cfg.
var pluginDirName = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

// entry is one key's last value and where it came from.
type entry struct {
	value string
	file  string
	line  int
}

// File is a parsed configuration: the raw keys (last occurrence wins) with
// their location, and the warnings found while reading. A File is not safe
// for concurrent mutation; build the typed sections once and share those.
type File struct {
	// Path is the file that was read ("" for defaults).
	Path string
	// Dir is <configdir>: the directory of Path. Relative paths in values
	// and the policy directory are resolved against it.
	Dir string

	entries  map[string]entry
	warnings []Warning
}

func newFile(path string) *File {
	f := &File{Path: path, entries: map[string]entry{}}
	if path != "" {
		f.Dir = filepath.Dir(path)
	}
	return f
}

// Parse reads a `key = value` config from r. name is used in errors and
// warnings and its directory becomes Dir. plugin.d is not read. Every
// problem found is returned (errors.Join of *Error, each with its line).
func Parse(r io.Reader, name string) (*File, error) {
	f := newFile(name)
	if err := f.read(r, name, ""); err != nil {
		return nil, err
	}
	return f, nil
}

// ParseFile reads path and then every <configdir>/plugin.d/<name>.cfg (in
// name order, keys prefixed with plugin.<name>.; they win over the main
// file). Like Choria, plugin.d is skipped for files under $HOME. A missing
// path is ErrNoConfig.
func ParseFile(path string) (*File, error) {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	fh, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %w", ErrNoConfig, err)
		}
		return nil, fmt.Errorf("read config: %w", err)
	}
	defer fh.Close()
	f := newFile(path)
	errs := []error{f.read(fh, path, "")}
	if !underHome(path) {
		errs = append(errs, f.readPluginDir())
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return f, nil
}

// readPluginDir merges <Dir>/plugin.d/*.cfg.
func (f *File) readPluginDir() error {
	dir := filepath.Join(f.Dir, "plugin.d")
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read plugin.d: %w", err)
	}
	var errs []error
	for _, de := range ents { // os.ReadDir sorts by name
		name, ok := strings.CutSuffix(de.Name(), ".cfg")
		if !ok || de.IsDir() || !pluginDirName.MatchString(name) {
			continue
		}
		path := filepath.Join(dir, de.Name())
		fh, err := os.Open(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("read plugin.d: %w", err))
			continue
		}
		errs = append(errs, f.read(fh, path, "plugin."+name+"."))
		fh.Close()
	}
	return errors.Join(errs...)
}

// read parses lines from r into f, prefixing every key with prefix.
func (f *File) read(r io.Reader, name, prefix string) error {
	br := bufio.NewReader(io.LimitReader(r, maxFileSize+1))
	var errs []error
	total := 0
	for n := 1; ; n++ {
		line, err := br.ReadString('\n')
		total += len(line)
		if total > maxFileSize {
			return errors.Join(append(errs, &Error{File: name, Line: n, Err: fmt.Errorf("%w: file larger than %d bytes", ErrSyntax, maxFileSize)})...)
		}
		if n == 1 {
			line = strings.TrimPrefix(line, "\uFEFF")
		}
		if perr := f.parseLine(name, n, line, prefix); perr != nil {
			errs = append(errs, perr)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("read %s: %w", name, err))...)
		}
	}
	return errors.Join(errs...)
}

// parseLine handles one line: comments, blank lines, `key = value`.
func (f *File) parseLine(name string, n int, line, prefix string) error {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' {
		return nil
	}
	key, value, ok := strings.Cut(line, "=")
	if !ok {
		return &Error{File: name, Line: n, Err: fmt.Errorf("%w: expected `key = value`, got %q", ErrSyntax, clip(line))}
	}
	key, value = strings.TrimSpace(key), strings.TrimSpace(value)
	switch {
	case key == "":
		return &Error{File: name, Line: n, Err: fmt.Errorf("%w: empty key", ErrSyntax)}
	case strings.ContainsAny(key, " \t\v\f"):
		return &Error{File: name, Line: n, Err: fmt.Errorf("%w: key %q contains white space", ErrSyntax, clip(key))}
	}
	return f.define(entry{value: value, file: name, line: n}, prefix+key)
}

// define checks a key and its value and records it.
func (f *File) define(e entry, key string) error {
	if canon, ok := aliases[key]; ok {
		f.warn(e, key, fmt.Sprintf("accepted as %s; add the plugin. prefix", canon))
		key = canon
	}
	ki, ok := Lookup(key)
	if !ok {
		msg := "unknown key"
		if s := suggest(key); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		if strings.HasPrefix(key, "plugin.") {
			f.warn(e, key, msg+"; ignored")
			f.entries[key] = e
			return nil
		}
		return &Error{File: e.file, Line: e.line, Key: key, Err: fmt.Errorf("%w%s", ErrUnknownKey, strings.TrimPrefix(msg, "unknown key"))}
	}
	switch ki.Status {
	case Ignored:
		f.warn(e, key, "recognised and ignored: "+ki.Description)
	case Unsupported:
		f.warn(e, key, "recognised but not supported: "+ki.Description)
	}
	if err := checkValue(ki, e.value); err != nil {
		return &Error{File: e.file, Line: e.line, Key: key, Err: err}
	}
	if isActionPolicySwitch(key) {
		if l := strings.ToLower(e.value); l == "true" || l == "false" {
			f.warn(e, key, fmt.Sprintf("MCollective reads %q here as %s; write 1 or 0 (tutti reads it as %s)", e.value, mcoSwitch(l), l))
		}
	}
	f.entries[key] = e
	return nil
}

func isActionPolicySwitch(key string) bool {
	return key == "plugin.actionpolicy.allow_unconfigured" || key == "plugin.actionpolicy.enable_default"
}

// mcoSwitch is MCollective's reading of an actionpolicy switch: true when
// the value starts with 1 or contains y.
func mcoSwitch(v string) string {
	if strings.HasPrefix(v, "1") || strings.Contains(v, "y") {
		return "true"
	}
	return "false"
}

// warn records a warning once.
func (f *File) warn(e entry, key, msg string) {
	w := Warning{File: e.file, Line: e.line, Key: key, Message: msg}
	for _, o := range f.warnings {
		if o == w {
			return
		}
	}
	f.warnings = append(f.warnings, w)
}

// Get returns the raw value of key (the last occurrence), and whether the
// key was given at all. Aliases are resolved.
func (f *File) Get(key string) (string, bool) {
	if canon, ok := aliases[key]; ok {
		key = canon
	}
	e, ok := f.entries[key]
	return e.value, ok
}

// Set overrides key with value, as if it were the last line of the file.
// It performs no checks; the typed builders report bad values naming the
// key and "(set)" as the file.
func (f *File) Set(key, value string) {
	if canon, ok := aliases[key]; ok {
		key = canon
	}
	if f.entries == nil {
		f.entries = map[string]entry{}
	}
	f.entries[key] = entry{value: value, file: setSource}
}

// Keys returns every key given, sorted.
func (f *File) Keys() []string {
	out := make([]string, 0, len(f.entries))
	for k := range f.entries {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Warnings returns the warnings found so far (parsing and typed builders).
func (f *File) Warnings() []Warning {
	return append([]Warning(nil), f.warnings...)
}

// underHome reports whether path lies in the user's home directory.
func underHome(path string) bool {
	home, err := os.UserHomeDir()
	if err != nil || home == "" || home == "/" {
		return false
	}
	rel, err := filepath.Rel(home, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// clip shortens text quoted in errors.
func clip(s string) string {
	const max = 60
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
