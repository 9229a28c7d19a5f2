// Package facts holds a node's facts and configuration-management classes
// (docs/config-reference.md §12): facts from one or more YAML or JSON files, shallow-merged
// with later files winning, and classes from a classes file, one per line.
//
// A Store keeps an immutable snapshot behind an atomic pointer, so lookups
// on the request path take no lock, and Reload or Watch swap in a new
// snapshot only when every file parsed; on failure the old data stays.
package facts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/tidwall/gjson"
	"gopkg.in/yaml.v3"

	"github.com/tuttifleet/tutti/connector/protocol"
)

// Store is a node's facts and classes. It is safe for concurrent use.
type Store struct {
	files       []string
	classesFile string
	static      bool // built by Static: nothing to reload
	log         *logrus.Entry
	snap        atomic.Pointer[snapshot]
}

// snapshot is one immutable generation of the data.
type snapshot struct {
	facts    map[string]any // as encoding/json decodes the merged document
	doc      string         // the merged document, for gjson paths
	classes  []string
	classSet map[string]struct{}
	stats    []fileStat // what the files looked like when read
}

type fileStat struct {
	path  string
	size  int64
	mtime time.Time
	found bool
}

// Load reads the fact files and the classes file. A missing or invalid
// fact file is an error; a missing classes file means no classes. log may
// be nil.
func Load(files []string, classesFile string, log *logrus.Entry) (*Store, error) {
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = logrus.NewEntry(l)
	}
	s := &Store{files: slices.Clone(files), classesFile: classesFile, log: log.WithField("component", "facts")}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Static returns a Store holding the given data, for the emulator and
// tests. Facts are normalised through JSON so they look exactly like facts
// read from a file; Static panics when facts cannot be encoded as JSON,
// which is a programming error.
func Static(facts map[string]any, classes []string) *Store {
	if facts == nil {
		facts = map[string]any{}
	}
	doc, err := json.Marshal(facts)
	if err != nil {
		panic(fmt.Sprintf("facts.Static: %v", err))
	}
	snap, err := newSnapshot(doc, slices.Clone(classes), nil)
	if err != nil {
		panic(fmt.Sprintf("facts.Static: %v", err))
	}
	l := logrus.New()
	l.SetOutput(io.Discard)
	s := &Store{static: true, log: logrus.NewEntry(l)}
	s.snap.Store(snap)
	return s
}

func newSnapshot(doc []byte, classes []string, stats []fileStat) (*snapshot, error) {
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		return nil, fmt.Errorf("decode merged facts: %w", err)
	}
	if m == nil {
		m = map[string]any{}
	}
	set := make(map[string]struct{}, len(classes))
	for _, c := range classes {
		set[c] = struct{}{}
	}
	return &snapshot{facts: m, doc: string(doc), classes: classes, classSet: set, stats: stats}, nil
}

// Fact returns the fact at a dotted path ("os.family", "disks.0.size"),
// valued as encoding/json decodes it: string, float64, bool, nil, []any or
// map[string]any. Paths use gjson syntax (docs/protocol.md §13.2), as Choria
// does; plain dotted paths are served from the decoded map without
// allocating.
func (s *Store) Fact(path string) (any, bool) {
	snap := s.snap.Load()
	if v, ok, plain := walk(snap.facts, path); plain {
		return v, ok
	}
	r := gjson.Get(snap.doc, path)
	if !r.Exists() {
		return nil, false
	}
	return resultValue(r), true
}

// walk follows a path made only of plain names and array indexes through
// the decoded facts. plain is false when the path needs gjson (wildcards,
// escapes, queries, modifiers).
func walk(facts map[string]any, path string) (v any, ok, plain bool) {
	if path == "" || strings.ContainsAny(path, `*?#|@\!`) {
		return nil, false, false
	}
	var cur any = facts
	for path != "" {
		seg, rest, _ := strings.Cut(path, ".")
		path = rest
		switch c := cur.(type) {
		case map[string]any:
			if cur, ok = c[seg]; !ok {
				return nil, false, true
			}
		case []any:
			i, err := index(seg)
			if err != nil || i >= len(c) {
				return nil, false, true
			}
			cur = c[i]
		default:
			return nil, false, true
		}
	}
	return cur, true, true
}

func index(s string) (int, error) {
	if s == "" || len(s) > 9 {
		return 0, errors.New("not an index")
	}
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, errors.New("not an index")
		}
		n = n*10 + int(r-'0')
	}
	return n, nil
}

func resultValue(r gjson.Result) any {
	switch r.Type {
	case gjson.String:
		return r.Str
	case gjson.Number:
		return r.Num
	case gjson.True:
		return true
	case gjson.False:
		return false
	case gjson.Null:
		return nil
	}
	var v any
	if err := json.Unmarshal([]byte(r.Raw), &v); err != nil {
		return r.Raw
	}
	return v
}

// Facts returns the merged facts. The map is shared: do not modify it.
func (s *Store) Facts() map[string]any { return s.snap.Load().facts }

// JSON returns the merged facts document.
func (s *Store) JSON() []byte { return []byte(s.snap.Load().doc) }

// Classes returns the classes as written in the classes file. The slice
// is shared: do not modify it.
func (s *Store) Classes() []string { return s.snap.Load().classes }

// HasClass reports whether name is one of the classes, compared exactly
// and case-sensitively, as Choria does (docs/protocol.md §13.2).
func (s *Store) HasClass(name string) bool {
	_, ok := s.snap.Load().classSet[name]
	return ok
}

// MatchClass reports whether any class matches re.
func (s *Store) MatchClass(re *regexp.Regexp) bool {
	return slices.ContainsFunc(s.snap.Load().classes, re.MatchString)
}

// Reload re-reads every file now (SIGHUP). When a file is missing or
// invalid the current data is kept and the error returned. Reloading a
// Static store does nothing.
func (s *Store) Reload() error {
	if s.static {
		return nil
	}
	snap, err := s.read()
	if err != nil {
		return err
	}
	s.snap.Store(snap)
	s.log.WithField("facts", len(snap.facts)).WithField("classes", len(snap.classes)).Debug("facts loaded")
	return nil
}

// Watch reloads whenever a file's size or modification time changes,
// checking every interval until ctx is done. Reload errors are logged and
// the old data kept; the next change is tried again.
func (s *Store) Watch(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = 10 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !s.changed() {
			continue
		}
		if err := s.Reload(); err != nil {
			s.log.WithError(err).Warn("facts changed on disk but could not be reloaded; keeping the previous facts")
			// remember the broken files' stats so we log once per change;
			// CompareAndSwap so a concurrent successful Reload wins
			if snap := s.snap.Load(); snap != nil {
				cp := *snap
				cp.stats = s.statAll()
				s.snap.CompareAndSwap(snap, &cp)
			}
		}
	}
}

func (s *Store) changed() bool {
	snap := s.snap.Load()
	if snap == nil || snap.stats == nil {
		return false // static store
	}
	return !slices.Equal(snap.stats, s.statAll())
}

func (s *Store) statAll() []fileStat {
	out := make([]fileStat, 0, len(s.files)+1)
	for _, f := range s.paths() {
		st := fileStat{path: f}
		if fi, err := os.Stat(f); err == nil {
			st.size, st.mtime, st.found = fi.Size(), fi.ModTime(), true
		}
		out = append(out, st)
	}
	return out
}

func (s *Store) paths() []string {
	p := slices.Clone(s.files)
	if s.classesFile != "" {
		p = append(p, s.classesFile)
	}
	return p
}

// read builds a new snapshot from the files. Stats are taken before
// reading, so a change during the read triggers another reload.
func (s *Store) read() (*snapshot, error) {
	stats := s.statAll()
	merged := map[string]any{}
	for _, f := range s.files {
		m, err := readFactFile(f)
		if err != nil {
			return nil, err
		}
		for k, v := range m { // shallow merge, later files win
			merged[k] = v
		}
	}
	doc, err := json.Marshal(merged)
	if err != nil {
		return nil, fmt.Errorf("encode merged facts: %w", err)
	}
	classes, err := s.readClasses()
	if err != nil {
		return nil, err
	}
	return newSnapshot(doc, classes, stats)
}

func (s *Store) readClasses() ([]string, error) {
	if s.classesFile == "" {
		return []string{}, nil
	}
	b, err := os.ReadFile(s.classesFile)
	if errors.Is(err, fs.ErrNotExist) {
		s.log.WithField("file", s.classesFile).Debug("no classes file; the node has no classes")
		return []string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read classes file: %w", err)
	}
	classes := []string{}
	for line := range strings.Lines(string(b)) {
		if c := strings.TrimSpace(line); c != "" {
			classes = append(classes, c)
		}
	}
	return classes, nil
}

// readFactFile decodes one fact file: JSON unless the name ends in .yaml
// or .yml, with YAML accepted as a fallback for content that is not JSON.
// The top level must be a mapping; an empty file has no facts.
func readFactFile(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read fact file: %w", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return map[string]any{}, nil
	}
	isYAML := strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")
	if !isYAML {
		var m map[string]any
		jsonErr := json.Unmarshal(b, &m)
		if jsonErr == nil {
			return nonNil(m), nil
		}
		m, yamlErr := decodeYAML(b)
		if yamlErr != nil {
			return nil, fmt.Errorf("fact file %s is neither JSON (%w) nor YAML (%v)", path, jsonErr, yamlErr)
		}
		return m, nil
	}
	m, err := decodeYAML(b)
	if err != nil {
		return nil, fmt.Errorf("fact file %s: %w", path, err)
	}
	return m, nil
}

func nonNil(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func decodeYAML(b []byte) (map[string]any, error) {
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("invalid YAML: %w", err)
	}
	if v == nil {
		return map[string]any{}, nil
	}
	m, ok := stringKeys(v).(map[string]any)
	if !ok {
		return nil, fmt.Errorf("top level is %T, not a mapping of fact names", v)
	}
	return m, nil
}

// stringKeys converts YAML maps with non-string keys (map[any]any, or
// integer keys) to map[string]any, recursively.
func stringKeys(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = stringKeys(e)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = stringKeys(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = stringKeys(e)
		}
		return x
	}
	return v
}

var _ protocol.FactSource = (*Store)(nil)
