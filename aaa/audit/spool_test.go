package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// memPub is a Publisher that stores lines in memory and fails while
// down is set.
type memPub struct {
	mu    sync.Mutex
	down  bool
	lines []string
}

func (p *memPub) PublishRecord(_ context.Context, line []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return fmt.Errorf("%w: test outage", ErrUnavailable)
	}
	for _, l := range MessageLines(line) {
		p.lines = append(p.lines, string(l))
	}
	return nil
}

func (p *memPub) setDown(d bool) { p.mu.Lock(); p.down = d; p.mu.Unlock() }

func (p *memPub) got() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// waitFor polls cond until it holds or 20 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func numbered(i int) *Record {
	r := rec(fmt.Sprintf("req-%05d", i))
	r.Timestamp = time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	return r
}

func spoolLine(i int) string { return string(numbered(i).AppendJSON(nil)) }

func TestSpoolDeliversInOrder(t *testing.T) {
	pub := &memPub{}
	s, err := NewSpool(SpoolConfig{Dir: t.TempDir(), SegmentBytes: 1024}, pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 200 {
		if err := s.Audit(context.Background(), numbered(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "200 records", func() bool { return len(pub.got()) >= 200 })
	got := pub.got()
	if len(got) != 200 {
		t.Fatalf("delivered %d records, want 200", len(got))
	}
	for i, l := range got {
		if l != spoolLine(i) {
			t.Fatalf("record %d = %s, want %s", i, l, spoolLine(i))
		}
	}
	waitFor(t, "segments removed", func() bool {
		segs, _ := listSegments(s.cfg.Dir)
		return len(segs) == 1 && s.Stats().PendingBytes == 0
	})
	if st := s.Stats(); st.Spooled != 200 || st.Delivered != 200 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSpoolGroupCommitConcurrent(t *testing.T) {
	pub := &memPub{}
	s, err := NewSpool(SpoolConfig{Dir: t.TempDir(), SegmentBytes: 4096}, pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				if err := s.Audit(context.Background(), numbered(w*1000+i)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	waitFor(t, "400 records", func() bool { return len(pub.got()) >= 400 })
	seen := map[string]int{}
	last := map[int]int{}
	for _, l := range pub.got() {
		seen[l]++
		var n int
		if _, err := fmt.Sscanf(l[len(`{"timestamp":"2026-12-06T00:00:00.000000+0000","request_id":"req-`):], "%05d", &n); err != nil {
			t.Fatal(err)
		}
		if prev, ok := last[n/1000]; ok && n <= prev {
			t.Fatalf("writer %d: record %d after %d", n/1000, n, prev)
		}
		last[n/1000] = n
	}
	if len(seen) != 400 {
		t.Fatalf("%d distinct records, want 400", len(seen))
	}
}

// TestSpoolKill drops a spool without Close (as kill -9 would: the
// files are what the kernel has), tears the tail of its head segment as
// a crash mid-write would, and reopens the directory: every record
// Audit returned nil for is delivered, once, in order.
func TestSpoolKill(t *testing.T) {
	dir := t.TempDir()
	down := &memPub{down: true}
	s1, err := NewSpool(SpoolConfig{Dir: dir, SegmentBytes: 2048}, down, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s1.Close() })
	for i := range 50 {
		if err := s1.Audit(context.Background(), numbered(i)); err != nil {
			t.Fatal(err)
		}
	}
	segs, err := listSegments(dir)
	if err != nil || len(segs) < 2 {
		t.Fatalf("segments %v, %v; want several", segs, err)
	}
	f, err := os.OpenFile(segs[len(segs)-1].path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	torn := appendFrame(nil, []byte(`{"torn":true}`))
	if _, err := f.Write(torn[:len(torn)-3]); err != nil {
		t.Fatal(err)
	}
	f.Close()

	pub := &memPub{}
	s2, err := NewSpool(SpoolConfig{Dir: dir, SegmentBytes: 2048}, pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := s2.Audit(context.Background(), numbered(50)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "51 records", func() bool { return len(pub.got()) >= 51 })
	got := pub.got()
	if len(got) != 51 {
		t.Fatalf("delivered %d, want 51", len(got))
	}
	for i, l := range got {
		if l != spoolLine(i) {
			t.Fatalf("record %d = %s, want %s", i, l, spoolLine(i))
		}
	}
}

// TestSpoolRestartResumes closes a spool that delivered part of its
// records and reopens it: delivery resumes at the cursor.
func TestSpoolRestartResumes(t *testing.T) {
	dir := t.TempDir()
	pub := &memPub{}
	s1, err := NewSpool(SpoolConfig{Dir: dir}, pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := s1.Audit(context.Background(), numbered(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "10 records", func() bool { return len(pub.got()) == 10 })
	pub.setDown(true)
	for i := 10; i < 20; i++ {
		if err := s1.Audit(context.Background(), numbered(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s1.Audit(context.Background(), numbered(99)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Audit after Close = %v", err)
	}
	pub.setDown(false)
	s2, err := NewSpool(SpoolConfig{Dir: dir}, pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	waitFor(t, "20 records", func() bool { return len(pub.got()) >= 20 })
	time.Sleep(50 * time.Millisecond)
	got := pub.got()
	if len(got) != 20 {
		t.Fatalf("delivered %d, want 20 (no record twice)", len(got))
	}
	for i, l := range got {
		if l != spoolLine(i) {
			t.Fatalf("record %d = %s, want %s", i, l, spoolLine(i))
		}
	}
}

func TestSpoolFull(t *testing.T) {
	pub := &memPub{down: true}
	s, err := NewSpool(SpoolConfig{Dir: t.TempDir(), MaxBytes: 2000}, pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var n int
	for ; n < 100; n++ {
		err := s.Audit(context.Background(), numbered(n))
		if errors.Is(err, ErrSpoolFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if n == 0 || n == 100 {
		t.Fatalf("spool of 2000 bytes took %d records", n)
	}
	if st := s.Stats(); !st.Full || st.Refused != 1 || st.PendingBytes > 2000 {
		t.Fatalf("stats %+v", st)
	}
	pub.setDown(false)
	waitFor(t, "backlog delivered", func() bool { return s.Stats().PendingBytes == 0 })
	if err := s.Audit(context.Background(), numbered(n)); err != nil {
		t.Fatalf("Audit after the backlog drained: %v", err)
	}
	if s.Stats().Full {
		t.Fatal("still full")
	}
}

func TestSpoolWriteError(t *testing.T) {
	dir := t.TempDir()
	s, err := NewSpool(SpoolConfig{Dir: dir}, &memPub{down: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.head.Close() // a disk that fails every write
	err = s.Audit(context.Background(), numbered(1))
	if err == nil || errors.Is(err, ErrSpoolFull) {
		t.Fatalf("Audit on a failing disk = %v", err)
	}
	if st := s.Stats(); st.WriteErrors != 1 || st.PendingBytes != 0 {
		t.Fatalf("stats %+v", st)
	}
	if err := s.Audit(context.Background(), badEntry{}); err == nil {
		t.Fatal("encode error accepted")
	}
	if _, err := NewSpool(SpoolConfig{}, &memPub{}, nil); err == nil {
		t.Fatal("no directory accepted")
	}
	if _, err := NewSpool(SpoolConfig{Dir: filepath.Join(dir, "x")}, nil, nil); err == nil {
		t.Fatal("no publisher accepted")
	}
}

// FuzzSegment feeds arbitrary bytes to the segment reader as a spool
// file: reading never panics, the valid prefix is whole frames, and
// frames written by appendFrame read back.
func FuzzSegment(f *testing.F) {
	f.Add([]byte{})
	f.Add(appendFrame(appendFrame(nil, []byte(`{"a":1}`)), []byte(`{"b":2}`)))
	f.Add(appendFrame(nil, []byte(`{"a":1}`))[:9])
	f.Add(appendFrameJoin(appendFrame(nil, []byte(`{"a":1}`)), []byte(`{"b":2}`), true))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 'x'})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytesReaderAt(data)
		valid, n := scanSegment(r, int64(len(data)))
		if valid < 0 || valid > int64(len(data)) {
			t.Fatalf("valid prefix %d of %d bytes", valid, len(data))
		}
		var off int64
		var lines [][]byte
		var joins []bool
		for range n {
			l, fl, err := readFrame(r, off, valid, nil)
			if err != nil {
				t.Fatalf("frame at %d of the valid prefix: %v", off, err)
			}
			// the deliverer's in-memory reader agrees with the file's
			if !holdsFrame(data[:valid], off) {
				t.Fatalf("holdsFrame: no whole frame at %d", off)
			}
			if pl, pn, err := parseFrame(data[off:valid]); err != nil || pn != fl || string(pl) != string(l) {
				t.Fatalf("parseFrame at %d: %q %d %v, readFrame %q %d", off, pl, pn, err, l, fl)
			}
			lines = append(lines, l)
			joins = append(joins, frameJoinsPrev(data[off:]))
			off += fl
		}
		if off != valid {
			t.Fatalf("frames end at %d, valid prefix %d", off, valid)
		}
		var again []byte
		for i, l := range lines {
			again = appendFrameJoin(again, l, joins[i])
		}
		if string(again) != string(data[:valid]) {
			t.Fatal("valid prefix does not re-encode to itself")
		}
		if _, _, err := parseFrame(data); err == nil && !holdsFrame(data, 0) {
			t.Fatal("parseFrame accepted a frame holdsFrame says is not whole")
		}
		if c, ok := decodeCursor(data); ok && string(c.encode()) != string(data) {
			t.Fatal("cursor does not re-encode to itself")
		}
	})
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, errors.New("EOF")
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, errors.New("short")
	}
	return n, nil
}

// BenchmarkSpool measures records/s spooled: Audit returning after the
// fsync holding its record (fsync=always) or after its write
// (fsync=interval, the node's default), with one caller (one write, and
// fsync, per record) and 32 × GOMAXPROCS concurrent callers (group
// commit: one per batch).
func BenchmarkSpool(b *testing.B) {
	for _, fsync := range []time.Duration{0, time.Second} {
		for _, par := range []int{0, 32} {
			name := "fsync=always"
			if fsync > 0 {
				name = "fsync=interval"
			}
			if par > 0 {
				name += fmt.Sprintf("/callers=%dxGOMAXPROCS", par)
			} else {
				name += "/callers=1"
			}
			b.Run(name, func(b *testing.B) { benchSpool(b, fsync, par) })
		}
	}
}

func benchSpool(b *testing.B, fsync time.Duration, par int) {
	s, err := NewSpool(SpoolConfig{Dir: b.TempDir(), MaxBytes: 1 << 30, FsyncInterval: fsync}, &memPub{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	r := rec("bench")
	b.ReportAllocs()
	b.ResetTimer()
	if par == 0 {
		for range b.N {
			if err := s.Audit(context.Background(), r); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		b.SetParallelism(par)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := s.Audit(context.Background(), r); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// MessageLines returns the message's non-empty lines, none holding a
// newline, and joining them gives back the message when it has no empty
// lines.
func FuzzMessageLines(f *testing.F) {
	f.Add([]byte(spoolLine(0) + "\n" + spoolLine(1)))
	f.Add([]byte("\n\n{}\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		lines := MessageLines(msg)
		for _, l := range lines {
			if len(bytes.TrimSpace(l)) == 0 || bytes.IndexByte(l, '\n') >= 0 {
				t.Fatalf("line %q", l)
			}
		}
		if !bytes.Contains(msg, []byte("\n\n")) && len(msg) > 0 && msg[0] != '\n' && msg[len(msg)-1] != '\n' &&
			len(bytes.TrimSpace(msg)) == len(msg) && !bytes.ContainsAny(msg, " \t\r\v\f") {
			if got := bytes.Join(lines, []byte{'\n'}); !bytes.Equal(got, msg) {
				t.Fatalf("joined %q, message %q", got, msg)
			}
		}
	})
}
