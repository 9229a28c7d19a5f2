package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func newTestFile(t testing.TB, cfg FileConfig) *File {
	t.Helper()
	if cfg.Path == "" {
		cfg.Path = filepath.Join(t.TempDir(), "audit.log")
	}
	a, err := NewFile(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func rec(id string) *Record {
	return &Record{RequestID: id, RequestTime: 1795357885, Caller: "up=bob", Sender: "laptop", Agent: "rpcutil", Action: "ping",
		Data: json.RawMessage(`{"x":1}`), Decision: Allow, Identity: "node1"}
}

// readLines returns the records of path, failing on any line that is not
// one JSON object.
func readLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %d %q: %v", len(out)+1, sc.Text(), err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFileMode(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	tests := []struct {
		name string
		mode os.FileMode
		want os.FileMode
	}{
		{"default 0600", 0, 0o600},
		{"configured 0640", 0o640, 0o640},
		{"umask does not apply", 0o666, 0o666},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.log")
			newTestFile(t, FileConfig{Path: path, Mode: tt.mode})
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tt.want {
				t.Fatalf("mode %v, want %v", fi.Mode().Perm(), tt.want)
			}
		})
	}
	t.Run("existing file keeps its mode", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "audit.log")
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, 0o640); err != nil {
			t.Fatal(err)
		}
		newTestFile(t, FileConfig{Path: path})
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
			t.Fatalf("mode changed to %v", fi.Mode().Perm())
		}
	})
}

func TestFileGroup(t *testing.T) {
	gid := os.Getgid()
	name := strconv.Itoa(gid)
	if g, err := user.LookupGroupId(name); err == nil {
		name = g.Name
	}
	path := filepath.Join(t.TempDir(), "audit.log")
	newTestFile(t, FileConfig{Path: path, Group: name})
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := int(fi.Sys().(*syscall.Stat_t).Gid); got != gid {
		t.Fatalf("gid %d, want %d", got, gid)
	}

	bad := filepath.Join(t.TempDir(), "x.log")
	_, err = NewFile(FileConfig{Path: bad, Group: "no-such-group-tutti"}, nil)
	if err == nil {
		t.Fatal("unknown group accepted")
	}
	if _, statErr := os.Stat(bad); statErr == nil {
		t.Fatal("file created despite the bad group")
	}
}

func TestFileConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  FileConfig
	}{
		{"no path", FileConfig{}},
		{"directory missing", FileConfig{Path: filepath.Join(t.TempDir(), "no", "audit.log")}},
		{"mode with type bits", FileConfig{Path: filepath.Join(t.TempDir(), "a.log"), Mode: os.ModeDir | 0o600}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewFile(tt.cfg, nil); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestFileConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	// two Files on one path stand in for two processes sharing the log
	files := []*File{newTestFile(t, FileConfig{Path: path}), newTestFile(t, FileConfig{Path: path})}
	const goroutines, each = 16, 300
	small := json.RawMessage(`{"pad":""}`)
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				r := rec(fmt.Sprintf("g%d-%d", g, i))
				if i%10 == 0 {
					r.Data = json.RawMessage(fmt.Sprintf(`{"pad":"%0*d"}`, 8000, i)) // larger than a pipe buffer
				} else {
					r.Data = small
				}
				if err := files[g%2].Audit(context.Background(), r); err != nil {
					t.Error(err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	lines := readLines(t, path)
	if len(lines) != goroutines*each {
		t.Fatalf("%d lines, want %d", len(lines), goroutines*each)
	}
	seen := map[any]bool{}
	for _, l := range lines {
		seen[l["request_id"]] = true
	}
	if len(seen) != goroutines*each {
		t.Fatalf("%d distinct records, want %d", len(seen), goroutines*each)
	}
}

func TestFileRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	a := newTestFile(t, FileConfig{Path: path})
	clock := time.Now()
	a.now = func() time.Time { return clock }

	step := func(id string) {
		t.Helper()
		if err := a.Audit(context.Background(), rec(id)); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(p string) []any {
		var out []any
		for _, l := range readLines(t, p) {
			out = append(out, l["request_id"])
		}
		return out
	}

	step("1")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	step("2") // within the second: still the renamed file
	if err := a.Reopen(); err != nil {
		t.Fatal(err)
	}
	step("3")
	if got := fmt.Sprint(ids(path + ".1")); got != "[1 2]" {
		t.Fatalf("rotated file holds %s", got)
	}
	if got := fmt.Sprint(ids(path)); got != "[3]" {
		t.Fatalf("new file holds %s", got)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("reopened file mode %v", fi.Mode().Perm())
	}

	t.Run("rename noticed without Reopen", func(t *testing.T) {
		if err := os.Rename(path, path+".2"); err != nil {
			t.Fatal(err)
		}
		clock = clock.Add(1100 * time.Millisecond)
		step("4")
		if got := fmt.Sprint(ids(path + ".2")); got != "[3]" {
			t.Fatalf("rotated file holds %s", got)
		}
		if got := fmt.Sprint(ids(path)); got != "[4]" {
			t.Fatalf("new file holds %s", got)
		}
	})
}

func TestFileWriteErrors(t *testing.T) {
	t.Run("device full", func(t *testing.T) {
		if _, err := os.Stat("/dev/full"); err != nil {
			t.Skip("no /dev/full")
		}
		a, err := NewFile(FileConfig{Path: "/dev/full"}, nil)
		if err != nil {
			t.Skipf("cannot open /dev/full: %v", err)
		}
		defer a.Close()
		if err := a.Audit(context.Background(), rec("x")); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Audit = %v, want ENOSPC", err)
		}
	})
	t.Run("descriptor lost, recovered by reopening", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "audit.log")
		a := newTestFile(t, FileConfig{Path: path})
		a.f.Close() // simulate a descriptor that can no longer be written
		if err := a.Audit(context.Background(), rec("lost")); err == nil {
			t.Fatal("write to a closed descriptor succeeded")
		}
		if err := a.Audit(context.Background(), rec("kept")); err != nil {
			t.Fatalf("no recovery: %v", err)
		}
		if lines := readLines(t, path); len(lines) != 1 || lines[0]["request_id"] != "kept" {
			t.Fatalf("lines %v", lines)
		}
	})
	t.Run("closed", func(t *testing.T) {
		a := newTestFile(t, FileConfig{})
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		if err := a.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if err := a.Audit(context.Background(), rec("x")); !errors.Is(err, ErrClosed) {
			t.Fatalf("Audit after Close = %v", err)
		}
		if err := a.Reopen(); !errors.Is(err, ErrClosed) {
			t.Fatalf("Reopen after Close = %v", err)
		}
	})
	t.Run("reopen fails, old file kept", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "logs")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "audit.log")
		a := newTestFile(t, FileConfig{Path: path})
		if err := os.Rename(dir, dir+".old"); err != nil {
			t.Fatal(err)
		}
		if err := a.Reopen(); err == nil {
			t.Fatal("Reopen with the directory gone succeeded")
		}
		if err := a.Audit(context.Background(), rec("still")); err != nil {
			t.Fatalf("old file not kept: %v", err)
		}
		if lines := readLines(t, filepath.Join(dir+".old", "audit.log")); len(lines) != 1 {
			t.Fatalf("old file holds %d records", len(lines))
		}
	})
}

type failing struct{ calls int }

func (f *failing) Audit(context.Context, Entry) error {
	f.calls++
	return errors.New("central audit down")
}
func (f *failing) Reopen() error { return nil }
func (f *failing) Close() error  { return nil }

func TestMulti(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	bad := &failing{}
	m := Multi(bad, nil, newTestFile(t, FileConfig{Path: path}), Discard())
	err := m.Audit(context.Background(), rec("m"))
	if err == nil || !strings.HasPrefix(err.Error(), "central audit down") || !errors.Is(err, ErrPartlyStored) {
		t.Fatalf("Audit = %v", err)
	}
	if bad.calls != 1 || len(readLines(t, path)) != 1 {
		t.Fatal("not every auditor was called")
	}
	if err := m.Reopen(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkFileAudit(b *testing.B) {
	a := newTestFile(b, FileConfig{})
	r := rec("694373eb775142e9ad9865d67c5e8e2d")
	r.Timestamp = time.Now()
	r.Data = json.RawMessage(`{"item":"loglevel","process_results":true}`)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := a.Audit(context.Background(), r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	r := rec("694373eb775142e9ad9865d67c5e8e2d")
	r.Timestamp = time.Now()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = r.AppendJSON(buf[:0])
	}
}

// Concurrent records are grouped into fewer writes, yet every Audit
// returns only once its own line is in the file, and Close loses none.
func TestFileWritesBeforeReturning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	a, err := NewFile(FileConfig{Path: path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("w%d-%d", w, i)
				if err := a.Audit(context.Background(), rec(id)); err != nil {
					t.Error(err)
					return
				}
				data, err := os.ReadFile(path)
				if err != nil || !bytes.Contains(data, []byte(`"request_id":"`+id+`"`)) {
					t.Errorf("record %s not in the file after Audit returned (%v)", id, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	seen := map[any]bool{}
	for _, l := range readLines(t, path) {
		seen[l["request_id"]] = true
	}
	if len(seen) != workers*each {
		t.Fatalf("%d distinct records, want %d", len(seen), workers*each)
	}
}

// A failed write is reported to every caller whose record was in it.
func TestFileWriteErrorReachesEveryCaller(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	a := newTestFile(t, FileConfig{Path: path})
	ro, err := os.Open(path) // a read-only descriptor: writes fail
	if err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	_ = a.f.Close()
	a.f = ro
	a.lastCheck = time.Now().Add(time.Hour) // no rotation check repairs it
	a.mu.Unlock()
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for range 4 {
		wg.Go(func() {
			if err := a.Audit(context.Background(), rec("x")); err != nil {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	// The first batch fails; the file is then reopened, so later
	// batches may succeed, but the first caller's record was refused.
	if failed == 0 {
		t.Fatal("a failed write was not reported")
	}
	if lines := readLines(t, path); len(lines) != 4-failed {
		t.Fatalf("%d lines in the file, %d callers told of success", len(lines), 4-failed)
	}
}

// An entry that cannot be encoded fails its own Audit only.
type badEntry struct{}

func (badEntry) AppendAudit(b []byte) ([]byte, error) {
	return append(b, `{"half":`...), errors.New("cannot encode")
}
func (badEntry) AuditID() string { return "bad" }

func TestFileEncodeError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	a := newTestFile(t, FileConfig{Path: path})
	if err := a.Audit(context.Background(), badEntry{}); err == nil || !strings.Contains(err.Error(), "encode record bad") {
		t.Fatalf("Audit = %v", err)
	}
	if err := a.Audit(context.Background(), rec("ok")); err != nil {
		t.Fatal(err)
	}
	if lines := readLines(t, path); len(lines) != 1 || lines[0]["request_id"] != "ok" {
		t.Fatalf("lines %v", lines)
	}
}

// A record without a timestamp is written with the time of the write.
func TestFileStampsZeroTimestamp(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	a := newTestFile(t, FileConfig{Path: path})
	before := time.Now().Add(-time.Second)
	if err := a.Audit(context.Background(), rec("t")); err != nil {
		t.Fatal(err)
	}
	ts, err := time.Parse(TimeLayout, readLines(t, path)[0]["timestamp"].(string))
	if err != nil || ts.Before(before) || ts.After(time.Now().Add(time.Second)) {
		t.Fatalf("timestamp %v (%v), want about now", ts, err)
	}
}
