package audit

import (
	"context"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// fsyncSpool opens a spool with a deferred fsync of interval and counts
// its fsyncs.
func fsyncSpool(t *testing.T, pub Publisher, interval time.Duration) (*Spool, *atomic.Int32) {
	t.Helper()
	s, err := NewSpool(SpoolConfig{Dir: t.TempDir(), FsyncInterval: interval}, pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var n atomic.Int32
	s.sync = func(f *os.File) error { n.Add(1); return f.Sync() }
	return s, &n
}

// With a deferred fsync, Audit returns once the record is written; the
// records still undelivered are fsynced within the interval, and again
// at Close.
func TestSpoolFsyncIntervalUndelivered(t *testing.T) {
	pub := &memPub{down: true}
	s, syncs := fsyncSpool(t, pub, 50*time.Millisecond)
	for i := range 3 {
		if err := s.Audit(context.Background(), numbered(i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := syncs.Load(); n != 0 {
		t.Fatalf("%d fsyncs before Audit returned, want none", n)
	}
	waitFor(t, "the deferred fsync", func() bool { return syncs.Load() == 1 })
	if err := s.Audit(context.Background(), numbered(3)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the next deferred fsync", func() bool { return syncs.Load() == 2 })
	// the file holds them, for the next NewSpool (as after a kill -9)
	pub.setDown(false)
	waitFor(t, "delivery after the outage", func() bool { return len(pub.got()) == 4 })
	if got := pub.got(); got[0] != spoolLine(0) || got[3] != spoolLine(3) {
		t.Fatalf("delivered %q", got)
	}
}

// Records the stream acknowledged before the interval ran out are not
// fsynced: the stream holds them.
func TestSpoolFsyncIntervalDelivered(t *testing.T) {
	pub := &memPub{}
	s, syncs := fsyncSpool(t, pub, 300*time.Millisecond)
	for i := range 5 {
		if err := s.Audit(context.Background(), numbered(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "delivery", func() bool { return s.Stats().PendingBytes == 0 })
	time.Sleep(600 * time.Millisecond)
	if n := syncs.Load(); n != 0 {
		t.Fatalf("%d fsyncs of delivered records, want none", n)
	}
}

// Close fsyncs what is still undelivered.
func TestSpoolFsyncIntervalClose(t *testing.T) {
	s, syncs := fsyncSpool(t, &memPub{down: true}, time.Hour)
	if err := s.Audit(context.Background(), numbered(0)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := syncs.Load(); n != 1 {
		t.Fatalf("%d fsyncs at Close, want 1", n)
	}
}

// With FsyncInterval 0 (spool_fsync = always) every write is fsynced
// before Audit returns.
func TestSpoolFsyncAlways(t *testing.T) {
	s, syncs := fsyncSpool(t, &memPub{}, 0)
	for i := range 3 {
		if err := s.Audit(context.Background(), numbered(i)); err != nil {
			t.Fatal(err)
		}
		if n := syncs.Load(); n != int32(i+1) {
			t.Fatalf("after record %d: %d fsyncs", i, n)
		}
	}
}

// slowPub stores each record after a delay, as a stream some way off.
type slowPub struct {
	memPub
	delay time.Duration
}

func (p *slowPub) PublishRecord(ctx context.Context, line []byte) error {
	time.Sleep(p.delay)
	return p.memPub.PublishRecord(ctx, line)
}

// Under a steady flow of records, each acknowledged well within the
// interval, nothing is fsynced, although some record is always waiting
// for its acknowledgement: the interval counts from each record's write.
func TestSpoolFsyncIntervalSteadyFlow(t *testing.T) {
	pub := &slowPub{delay: 3 * time.Millisecond}
	s, err := NewSpool(SpoolConfig{Dir: t.TempDir(), FsyncInterval: 300 * time.Millisecond, Linger: -1}, pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var syncs atomic.Int32
	s.mu.Lock()
	s.sync = func(f *os.File) error { syncs.Add(1); return f.Sync() }
	s.mu.Unlock()
	for i := range 240 { // 1.2 s, four intervals
		if err := s.Audit(context.Background(), numbered(i)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	waitFor(t, "delivery", func() bool { return s.Stats().Delivered == 240 })
	time.Sleep(400 * time.Millisecond)
	if n := syncs.Load(); n != 0 {
		t.Fatalf("%d fsyncs of records the stream acknowledged within the interval, want none", n)
	}

	// the stream stops answering: the waiting records are fsynced
	pub.setDown(true)
	if err := s.Audit(context.Background(), numbered(240)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the fsync of an unacknowledged record", func() bool { return syncs.Load() >= 1 })
}
