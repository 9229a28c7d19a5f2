package revoke

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// fileCheckInterval bounds how often Revoked stats the file.
const fileCheckInterval = time.Second

// FileStore keeps revocations in a local JSON file (an array of Entry),
// for a tutti-aaa without JetStream. The service notices a changed file
// within a second; a broken file is logged and the previous set kept.
type FileStore struct {
	path string
	log  *logrus.Entry
	set  *Set

	lastCheck atomic.Int64 // unix nanoseconds
	mu        sync.Mutex   // reloads and writes
	mtime     time.Time
	size      int64
}

// OpenFile reads path; a missing file is an empty set.
func OpenFile(path string, log *logrus.Entry) (*FileStore, error) {
	if path == "" {
		return nil, errors.New("revocations: no file")
	}
	f := &FileStore{path: path, log: log, set: NewSet()}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.reloadLocked(true); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *FileStore) reloadLocked(force bool) error {
	f.lastCheck.Store(time.Now().UnixNano())
	st, err := os.Stat(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		f.set.Replace(nil)
		f.mtime, f.size = time.Time{}, 0
		return nil
	}
	if err != nil {
		return fmt.Errorf("revocations file: %w", err)
	}
	if !force && st.ModTime().Equal(f.mtime) && st.Size() == f.size {
		return nil
	}
	data, err := os.ReadFile(f.path)
	if err != nil {
		return fmt.Errorf("revocations file: %w", err)
	}
	list, err := ParseFile(data)
	if err != nil {
		return fmt.Errorf("revocations file %s: %w", f.path, err)
	}
	f.set.Replace(list)
	f.mtime, f.size = st.ModTime(), st.Size()
	return nil
}

// ParseFile decodes a revocations file: a JSON array of entries.
func ParseFile(data []byte) ([]Entry, error) {
	if len(data) == 0 {
		return nil, nil
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEntry, err)
	}
	list := make([]Entry, 0, len(raw))
	for i, r := range raw {
		e, err := Parse(r)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i+1, err)
		}
		list = append(list, *e)
	}
	return list, nil
}

func (f *FileStore) maybeReload() {
	if time.Since(time.Unix(0, f.lastCheck.Load())) < fileCheckInterval || !f.mu.TryLock() {
		return
	}
	defer f.mu.Unlock()
	if err := f.reloadLocked(false); err != nil && f.log != nil {
		f.log.WithError(err).Error("Revocations file changed but could not be loaded, keeping the previous revocations")
	}
}

// Revoked returns the entry revoking t, or nil.
func (f *FileStore) Revoked(t Token) *Entry {
	f.maybeReload()
	return f.set.Revoked(t)
}

// Revoke adds e to the file (replacing an entry with the same key), in
// one rename.
func (f *FileStore) Revoke(_ context.Context, e Entry) error {
	if err := e.Validate(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.reloadLocked(true); err != nil {
		return err
	}
	f.set.Put(&e)
	data, err := json.MarshalIndent(f.set.List(), "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(f.path, append(data, '\n'))
}

// List is every revocation, oldest first.
func (f *FileStore) List(context.Context) ([]Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.reloadLocked(true); err != nil {
		return nil, err
	}
	return f.set.List(), nil
}

// Close releases nothing; it completes the Store interface.
func (f *FileStore) Close() error { return nil }

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".revocations-*")
	if err != nil {
		return fmt.Errorf("revocations file: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("revocations file: %w", err)
	}
	return nil
}
