package actionpolicy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// checkInterval is how often the request path looks for changed files.
const checkInterval = time.Second

// maxFileBytes bounds a policy or groups file.
const maxFileBytes = 8 << 20

// Config is the actionpolicy part of the node configuration
// (config.Authorization).
type Config struct {
	Dir               string // policies directory
	AllowUnconfigured bool   // plugin.actionpolicy.allow_unconfigured (also the fallback of files without `policy default`)
	EnableDefault     bool   // use <Dir>/<DefaultName>.policy when an agent has no file
	DefaultName       string // plugin.actionpolicy.default_name; "" means "default"
}

// ErrDenied matches the error of every refusal returned by
// Decision.Denial.
var ErrDenied = errors.New("not authorized")

// Denial returns nil when d allows, otherwise an error wrapping ErrDenied
// (and Err, for policy errors) whose text is d.Reason.
func (d Decision) Denial() error {
	switch {
	case d.Allowed:
		return nil
	case d.Err != nil:
		return fmt.Errorf("%w: %w", ErrDenied, d.Err)
	}
	return fmt.Errorf("%w: %s", ErrDenied, d.Reason)
}

// Authorizer decides requests with the policy files of one directory.
// Files are parsed once and cached in an immutable snapshot; the request
// path looks for changes at most once per checkInterval and Reload forces
// a re-read. It is safe for concurrent use.
type Authorizer struct {
	cfg Config
	log *logrus.Entry
	now func() time.Time

	snap      atomic.Pointer[snapshot]
	lastCheck atomic.Int64 // unix nanoseconds of the last change check
	mu        sync.Mutex   // serializes refreshes
}

// snapshot is one immutable view of the policy directory.
type snapshot struct {
	dirErr      *PolicyError // directory unreadable: deny everything
	groups      Groups
	groupsErr   *PolicyError // groups file unreadable: every policy is refused
	groupsStamp stamp
	files       map[string]*entry // by agent: "rpcutil" for rpcutil.policy
}

type entry struct {
	stamp  stamp
	policy *Policy
	err    *PolicyError // refused: deny everything
	reason string       // err.Error(), precomputed
}

type stamp struct {
	exists bool
	size   int64
	mtime  int64
}

func stampOf(fi fs.FileInfo) stamp {
	return stamp{exists: true, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
}

// New validates cfg and loads the policy directory. Broken files do not
// fail New: they are logged at Error level and deny their agent. log may
// be nil.
func New(cfg Config, log *logrus.Entry) (*Authorizer, error) {
	if cfg.Dir == "" {
		return nil, errors.New("actionpolicy: policy directory is not set")
	}
	if cfg.DefaultName == "" {
		cfg.DefaultName = "default"
	}
	if !groupNameRE.MatchString(cfg.DefaultName) {
		return nil, fmt.Errorf("actionpolicy: invalid default_name %q: want letters, digits, '_', '.', '-'", cfg.DefaultName)
	}
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = logrus.NewEntry(l)
	}
	a := &Authorizer{cfg: cfg, log: log, now: time.Now}
	a.snap.Store(&snapshot{files: map[string]*entry{}})
	_ = a.refresh(true) // problems are logged and fail closed per file
	return a, nil
}

// Authorize decides req (docs/actionpolicy.md §2.2 lookup, §2.7 decision). It reads no
// file; at most once per second it checks the directory for changes.
func (a *Authorizer) Authorize(req Request) Decision {
	if now := a.now().UnixNano(); now-a.lastCheck.Load() >= int64(checkInterval) && a.mu.TryLock() {
		if now-a.lastCheck.Load() >= int64(checkInterval) {
			_ = a.refreshLocked(false)
		}
		a.mu.Unlock()
	}
	s := a.snap.Load()
	if s.dirErr != nil {
		return Decision{Reason: s.dirErr.Error(), Policy: "", Err: s.dirErr}
	}
	e := s.files[req.Agent]
	if e == nil && a.cfg.EnableDefault {
		e = s.files[a.cfg.DefaultName]
	}
	switch {
	case e == nil && a.cfg.AllowUnconfigured:
		return Decision{Allowed: true, Reason: "no policy found for " + req.Agent + ", allow_unconfigured is on"}
	case e == nil:
		return Decision{Reason: "no policy found for " + req.Agent}
	case e.err != nil:
		return Decision{Reason: e.reason, Policy: e.err.File, Line: e.err.Line, Err: e.err}
	}
	return e.policy.evaluate(req, a.cfg.AllowUnconfigured)
}

// Reload re-reads the groups file and every policy file, picks up new and
// removed files, and swaps the snapshot. The error joins every problem
// found (unreadable directory, refused files); the affected agents are
// denied until fixed. SIGHUP calls it.
func (a *Authorizer) Reload() error { return a.refresh(true) }

func (a *Authorizer) refresh(force bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.refreshLocked(force)
}

// refreshLocked builds a new snapshot, re-parsing files whose stamp
// changed (all of them when force is set or the groups file changed).
func (a *Authorizer) refreshLocked(force bool) error {
	defer a.lastCheck.Store(a.now().UnixNano())
	old := a.snap.Load()
	next := &snapshot{files: map[string]*entry{}}
	ents, err := os.ReadDir(a.cfg.Dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		next.dirErr = &PolicyError{File: a.cfg.Dir, Reason: "cannot read policy directory", Err: err}
		if old.dirErr == nil || force {
			a.log.WithError(err).WithField("dir", a.cfg.Dir).Error("Cannot read the policy directory: denying every request")
		}
		a.snap.Store(next)
		return next.dirErr
	}
	groupsChanged := a.loadGroups(old, next, force)
	var errs []error
	if next.groupsErr != nil {
		errs = append(errs, next.groupsErr)
	}
	for _, de := range ents {
		name := de.Name()
		if !strings.HasSuffix(name, ".policy") || name == ".policy" {
			continue
		}
		fi, err := os.Stat(filepath.Join(a.cfg.Dir, name))
		if errors.Is(err, fs.ErrNotExist) || err == nil && !fi.Mode().IsRegular() {
			continue // removed meanwhile, dangling symlink, directory…
		}
		agent := strings.TrimSuffix(name, ".policy")
		prev := old.files[agent]
		unchanged := prev != nil && (err == nil && prev.stamp == stampOf(fi) || err != nil && prev.err != nil)
		if unchanged && !force && !groupsChanged {
			next.files[agent] = prev
			if prev.err != nil {
				errs = append(errs, prev.err)
			}
			continue
		}
		e := a.loadPolicy(name, fi, err, next)
		next.files[agent] = e
		if e.err != nil {
			errs = append(errs, e.err)
		}
	}
	for agent := range old.files {
		if next.files[agent] == nil {
			a.log.WithField("file", agent+".policy").Info("Policy file removed")
		}
	}
	a.snap.Store(next)
	return errors.Join(errs...)
}

// loadGroups fills next's groups, reusing old's when the file is
// unchanged; it reports whether the groups changed.
func (a *Authorizer) loadGroups(old, next *snapshot, force bool) bool {
	path := filepath.Join(a.cfg.Dir, GroupsFile)
	fi, err := os.Stat(path)
	var st stamp
	if err == nil {
		st = stampOf(fi)
	}
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		if !force && st == old.groupsStamp {
			next.groups, next.groupsStamp, next.groupsErr = old.groups, old.groupsStamp, old.groupsErr
			return false
		}
	}
	next.groupsStamp = st
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	data, err := readLimited(path, err)
	if err == nil {
		var warns []Warning
		next.groups, warns, err = ParseGroups(bytes.NewReader(data))
		for _, w := range warns {
			a.log.WithFields(logrus.Fields{"file": GroupsFile, "line": w.Line}).Warn(w.Message)
		}
	}
	if err != nil {
		var pe *PolicyError
		if !errors.As(err, &pe) {
			pe = &PolicyError{File: GroupsFile, Reason: "cannot read groups file", Err: err}
		}
		next.groupsErr = pe
		a.log.WithError(err).WithField("file", GroupsFile).Error("Cannot read the groups file: denying every request that has a policy")
	}
	return true
}

// loadPolicy reads and parses one file; statErr is the result of its stat.
func (a *Authorizer) loadPolicy(name string, fi fs.FileInfo, statErr error, next *snapshot) *entry {
	e := &entry{}
	if statErr == nil {
		e.stamp = stampOf(fi)
	}
	fail := func(pe *PolicyError) *entry {
		e.err, e.reason = pe, pe.Error()
		a.log.WithFields(logrus.Fields{"file": name, "line": pe.Line}).WithError(pe).
			Error("Policy file refused: denying every request for its agent")
		return e
	}
	if next.groupsErr != nil {
		return fail(&PolicyError{File: name, Reason: "groups file is unusable", Err: next.groupsErr})
	}
	data, err := readLimited(filepath.Join(a.cfg.Dir, name), statErr)
	if err != nil {
		return fail(&PolicyError{File: name, Reason: "cannot read policy file", Err: err})
	}
	p, warns, err := Parse(name, bytes.NewReader(data), next.groups)
	for _, w := range warns {
		a.log.WithFields(logrus.Fields{"file": name, "line": w.Line}).Warn(w.Message)
	}
	if err != nil {
		var pe *PolicyError
		if !errors.As(err, &pe) {
			pe = &PolicyError{File: name, Reason: "cannot parse policy file", Err: err}
		}
		return fail(pe)
	}
	e.policy = p
	a.log.WithFields(logrus.Fields{"file": name, "rules": len(p.rules), "warnings": len(warns)}).Info("Policy file loaded")
	return e
}

func readLimited(path string, statErr error) ([]byte, error) {
	if statErr != nil {
		return nil, statErr
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileBytes {
		return nil, fmt.Errorf("file larger than %d bytes", maxFileBytes)
	}
	return data, nil
}
