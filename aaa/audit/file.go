package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// rotateCheckInterval is how often Audit looks whether the file was
// renamed or removed underneath.
const rotateCheckInterval = time.Second

// maxKeptBuffer bounds the encode buffer of a batch kept for reuse.
const maxKeptBuffer = 64 << 10

// FileConfig is the audit log file (config.Audit).
type FileConfig struct {
	Path  string      // plugin.rpcaudit.logfile
	Mode  os.FileMode // plugin.rpcaudit.logfile.mode; 0 means 0600
	Group string      // plugin.rpcaudit.logfile.group: name or numeric gid; "" leaves the group alone
}

// File is an Auditor appending JSON lines to a file kept open: the
// node's audit log and tutti-aaa's logfile auditor.
type File struct {
	path string
	mode os.FileMode
	gid  int // -1: leave the group alone
	log  *logrus.Entry
	now  func() time.Time
	// write and truncate are (*os.File).Write and Truncate; tests put
	// faults in.
	write    func(*os.File, []byte) (int, error)
	truncate func(*os.File, int64) error

	mu        sync.Mutex
	cond      sync.Cond // signalled when a batch is written
	f         *os.File
	fi        os.FileInfo // of f, to notice rotation
	lastCheck time.Time
	broken    bool // the last write failed: reopen before the next one
	torn      bool // the file may end in part of a record: start the next write on a new line
	closed    bool
	cur       *batch   // records not yet handed to write(2); nil: none
	writing   bool     // one caller writes a batch without mu
	free      []*batch // written batches, for reuse
}

// NewFile opens (creating it if needed) the audit log. A file it creates
// gets cfg.Mode (default 0600, whatever the umask) and, when cfg.Group is
// set, that group; an unknown group is an error. An existing file keeps
// its mode and group (a warning is logged when it is more permissive than
// cfg.Mode). log may be nil.
func NewFile(cfg FileConfig, log *logrus.Entry) (*File, error) {
	if cfg.Path == "" {
		return nil, errors.New("audit: log file path is not set")
	}
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = logrus.NewEntry(l)
	}
	a := &File{path: cfg.Path, mode: cfg.Mode.Perm(), gid: -1, log: log.WithField("file", cfg.Path), now: time.Now,
		free: make([]*batch, 0, 2), write: (*os.File).Write, truncate: (*os.File).Truncate}
	a.cond.L = &a.mu
	if a.mode == 0 {
		a.mode = 0o600
	}
	if cfg.Mode&^fs.ModePerm != 0 {
		return nil, fmt.Errorf("audit: log file mode %v has bits other than permissions", cfg.Mode)
	}
	if cfg.Group != "" {
		gid, err := lookupGroup(cfg.Group)
		if err != nil {
			return nil, fmt.Errorf("audit: log file group: %w", err)
		}
		a.gid = gid
	}
	f, fi, err := a.open()
	if err != nil {
		return nil, err
	}
	a.f, a.fi, a.lastCheck = f, fi, a.now()
	return a, nil
}

func lookupGroup(name string) (int, error) {
	if gid, err := strconv.Atoi(name); err == nil && gid >= 0 {
		return gid, nil
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		return -1, fmt.Errorf("unknown group %q: %w", name, err)
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return -1, fmt.Errorf("group %q has a non-numeric gid %q: %w", name, g.Gid, err)
	}
	return gid, nil
}

// open opens the path for appending, creating it with the configured mode
// and group.
func (a *File) open() (*os.File, os.FileInfo, error) {
	f, err := os.OpenFile(a.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, a.mode)
	created := err == nil
	if errors.Is(err, fs.ErrExist) {
		f, err = os.OpenFile(a.path, os.O_WRONLY|os.O_APPEND, 0)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("audit: open log file: %w", err)
	}
	fail := func(what string, err error) (*os.File, os.FileInfo, error) {
		f.Close()
		return nil, nil, fmt.Errorf("audit: %s %s: %w", what, a.path, err)
	}
	if created {
		if err := f.Chmod(a.mode); err != nil {
			return fail("chmod", err)
		}
		if a.gid >= 0 {
			if err := f.Chown(-1, a.gid); err != nil {
				return fail(fmt.Sprintf("chgrp %d", a.gid), err)
			}
		}
	}
	fi, err := f.Stat()
	if err != nil {
		return fail("stat", err)
	}
	if !created && fi.Mode().IsRegular() && fi.Mode().Perm()&^a.mode != 0 {
		a.log.Warnf("Audit log mode %v is more permissive than the configured %v", fi.Mode().Perm(), a.mode)
	}
	return f, fi, nil
}

// Audit appends e as one line and returns once that line has been
// handed to the kernel. ctx is not used: a record that has been queued
// is written.
//
// Writes are grouped: while one caller writes, the records of the others
// collect in the next batch, which one of them hands to the kernel in
// one write(2). Each Audit still returns only after the write that holds
// its own line, and with that write's error.
func (a *File) Audit(_ context.Context, e Entry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return ErrClosed
	}
	if a.cur == nil {
		a.cur = a.batchLocked()
	}
	b := a.cur
	start := len(b.buf)
	buf, err := e.AppendAudit(b.buf)
	if err != nil {
		b.buf = buf[:start]
		return fmt.Errorf("audit: encode record %s: %w", e.AuditID(), err)
	}
	b.buf = append(buf, '\n')
	b.waiters++
	for !b.done {
		if a.writing {
			a.cond.Wait()
			continue
		}
		// No one is writing, so b is still a.cur: write it.
		a.writeLocked()
	}
	err = b.err
	if b.waiters--; b.waiters == 0 {
		a.recycleLocked(b)
	}
	if err != nil {
		return fmt.Errorf("audit: write record %s: %w", e.AuditID(), err)
	}
	return nil
}

// batch is records written together.
type batch struct {
	buf     []byte
	waiters int // Audit calls waiting for this batch
	done    bool
	err     error
}

// batchLocked returns an empty batch, reusing a written one.
func (a *File) batchLocked() *batch {
	if n := len(a.free); n > 0 {
		b := a.free[n-1]
		a.free = a.free[:n-1]
		return b
	}
	return &batch{}
}

// recycleLocked keeps b, once every waiter has seen its result, for a
// later batch.
func (a *File) recycleLocked(b *batch) {
	if cap(b.buf) > maxKeptBuffer || len(a.free) == cap(a.free) {
		return
	}
	b.buf, b.done, b.err = b.buf[:0], false, nil
	a.free = append(a.free, b)
}

// writeLocked writes a.cur with mu released, then wakes its waiters.
// Called with mu held, a.cur set and nobody writing. A write error marks
// the file broken: the next batch reopens the path first. A write that
// fails part way (a full disk) is cut off again, so the file holds whole
// lines only (see writeBatch).
func (a *File) writeLocked() {
	if now := a.now(); a.broken || now.Sub(a.lastCheck) >= rotateCheckInterval {
		a.checkRotated(now)
	}
	b, f, torn := a.cur, a.f, a.torn
	a.cur, a.writing = nil, true
	a.mu.Unlock()
	torn, err := a.writeBatch(f, b.buf, torn)
	a.mu.Lock()
	a.writing = false
	b.done, b.err = true, err
	if f == a.f {
		a.torn = torn
	}
	if err != nil {
		a.broken = true
		a.log.WithError(err).WithField("records", b.waiters).Error("Cannot write the audit records")
	}
	a.cond.Broadcast()
}

// writeBatch appends buf to f, after a newline when the file may end in
// a torn record (torn), and returns whether it may now. When the write
// fails after some bytes went out, the file is truncated back to its
// size before the write; when even that fails, the file is torn and the
// next write starts on a new line, so only the torn record is lost.
func (a *File) writeBatch(f *os.File, buf []byte, torn bool) (bool, error) {
	if torn {
		buf = append([]byte{'\n'}, buf...)
	}
	n, err := a.write(f, buf)
	if err == nil {
		return false, nil
	}
	if n <= 0 {
		return torn, err
	}
	fi, cerr := f.Stat()
	switch {
	case cerr != nil:
	case !fi.Mode().IsRegular() || fi.Size() < int64(n):
		cerr = fmt.Errorf("%s is %v bytes, %d of them just written", a.path, fi.Size(), n)
	default:
		if cerr = a.truncate(f, fi.Size()-int64(n)); cerr == nil {
			return torn, err
		}
	}
	a.log.WithError(cerr).Error("Cannot cut the partly written audit records off: the next record starts on a new line")
	return true, err
}

// waitIdleLocked waits until no write is in progress and every queued
// record is written. Called with mu held.
func (a *File) waitIdleLocked() {
	for a.writing || a.cur != nil {
		if a.writing {
			a.cond.Wait()
			continue
		}
		a.writeLocked()
	}
}

// checkRotated reopens the path when the open file is no longer the one
// at the path (renamed or removed by log rotation) or the last write
// failed. A failed reopen keeps the old descriptor.
func (a *File) checkRotated(now time.Time) {
	a.lastCheck = now
	if !a.broken {
		if st, err := os.Stat(a.path); err == nil && os.SameFile(st, a.fi) {
			return
		}
	}
	if err := a.reopenLocked(); err != nil {
		a.log.WithError(err).Error("Cannot reopen the audit log, writing to the old file")
		return
	}
	a.log.Info("Audit log reopened")
}

// Reopen closes the file and opens the path again (SIGHUP, logrotate).
// On failure the old file stays in use and the error is returned.
func (a *File) Reopen() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return ErrClosed
	}
	a.waitIdleLocked()
	return a.reopenLocked()
}

func (a *File) reopenLocked() error {
	f, fi, err := a.open()
	if err != nil {
		return err
	}
	old := a.f
	if !os.SameFile(fi, a.fi) {
		a.torn = false // the torn tail stays in the old file
	}
	a.f, a.fi, a.broken, a.lastCheck = f, fi, false, a.now()
	if err := old.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		a.log.WithError(err).Warn("Closing the previous audit log failed")
	}
	return nil
}

// Close writes the records queued, then closes the file. It is
// idempotent.
func (a *File) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	a.waitIdleLocked()
	a.closed = true
	if err := a.f.Close(); err != nil {
		return fmt.Errorf("audit: close %s: %w", a.path, err)
	}
	return nil
}
