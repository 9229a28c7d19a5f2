package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// windowPub is an AsyncPublisher that holds each record's result until
// the test releases it, and stores a record once (as Nats-Msg-Id does).
type windowPub struct {
	memPub
	wmu     sync.Mutex
	pending []pendingPub
	seen    map[string]bool
	maxSent int
	refuse  bool // disconnected: sends fail at once
}

type pendingPub struct {
	line string
	res  chan error
}

func (p *windowPub) PublishRecordAsync(line []byte) (<-chan error, error) {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if p.refuse {
		return nil, fmt.Errorf("%w: not connected", ErrUnavailable)
	}
	r := make(chan error, 1)
	p.pending = append(p.pending, pendingPub{line: string(line), res: r})
	p.maxSent = max(p.maxSent, len(p.pending))
	return r, nil
}

func (p *windowPub) inFlight() int { p.wmu.Lock(); defer p.wmu.Unlock(); return len(p.pending) }

// release answers the records in flight, in order: the first fail ones
// with err (a connection lost: they and all after them are lost), the
// others stored.
func (p *windowPub) release(fail int, err error) {
	p.wmu.Lock()
	pend := p.pending
	p.pending = nil
	p.wmu.Unlock()
	for i, q := range pend {
		if i >= len(pend)-fail {
			q.res <- err
			continue
		}
		p.mu.Lock()
		if !p.seen[q.line] { // the message's Nats-Msg-Id
			p.seen[q.line] = true
			for _, l := range MessageLines([]byte(q.line)) {
				p.lines = append(p.lines, string(l))
			}
		}
		p.mu.Unlock()
		q.res <- nil
	}
}

// The deliverer keeps at most Window records in flight and delivers in
// order; after a lost window it sends again from the first record not
// acknowledged, and the records of that window that were stored are
// not stored twice.
func TestSpoolWindow(t *testing.T) {
	pub := &windowPub{seen: map[string]bool{}}
	s, err := NewSpool(SpoolConfig{Dir: t.TempDir(), Window: 4, Linger: -1}, pub, nil) // one record a message
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 10 {
		if err := s.Audit(context.Background(), numbered(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "a full window", func() bool { return pub.inFlight() == 4 })
	pub.release(0, nil) // 0-3 stored
	waitFor(t, "the next window", func() bool { return pub.inFlight() == 4 })
	pub.wmu.Lock()
	pub.refuse = true // the connection is lost: 4, 5 stored; 6, 7 lost; what follows refused
	pub.wmu.Unlock()
	pub.release(2, fmt.Errorf("%w: connection lost", ErrUnavailable))
	waitFor(t, "the failure", func() bool { return s.Stats().PublishErrors > 0 })
	pub.wmu.Lock()
	pub.refuse = false
	pub.wmu.Unlock()
	// after the failure: one record at a time until one is stored
	waitFor(t, "the retry", func() bool { return pub.inFlight() == 1 })
	pub.release(0, nil) // 6
	for len(pub.got()) < 10 {
		waitFor(t, "more records in flight", func() bool { return pub.inFlight() > 0 || len(pub.got()) == 10 })
		pub.release(0, nil)
	}
	want := make([]string, 10)
	for i := range want {
		want[i] = spoolLine(i)
	}
	if got := pub.got(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stored\n%q\nwant\n%q", got, want)
	}
	if pub.maxSent > 4 {
		t.Fatalf("%d records in flight, window 4", pub.maxSent)
	}
	waitFor(t, "nothing pending", func() bool { return s.Stats().PendingBytes == 0 })
	if st := s.Stats(); st.Delivered != 10 || st.PublishErrors != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// A publisher that fails at once (disconnected) is retried like one
// that fails later.
func TestSpoolWindowSendError(t *testing.T) {
	pub := &refusingPub{}
	s, err := NewSpool(SpoolConfig{Dir: t.TempDir()}, pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Audit(context.Background(), numbered(0)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a refused send", func() bool { return s.Stats().PublishErrors > 0 })
	pub.setDown(false)
	waitFor(t, "delivery", func() bool { return len(pub.got()) == 1 })
}

type refusingPub struct {
	memPub
	upMu sync.Mutex
	up   bool
}

func (p *refusingPub) setDown(d bool) { p.upMu.Lock(); p.up = !d; p.upMu.Unlock() }

func (p *refusingPub) PublishRecordAsync(line []byte) (<-chan error, error) {
	p.upMu.Lock()
	up := p.up
	p.upMu.Unlock()
	if !up {
		return nil, errors.New("not connected")
	}
	return settled(p.PublishRecord(context.Background(), line)), nil
}

// A record opens a batch that the records written within
// SpoolConfig.Linger join: they are sent as one message, one line each;
// with a negative Linger each is sent alone at once.
func TestSpoolLinger(t *testing.T) {
	pub := &windowPub{seen: map[string]bool{}}
	s, err := NewSpool(SpoolConfig{Dir: t.TempDir(), Linger: 300 * time.Millisecond}, pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Audit(ctx, numbered(0)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if n := pub.inFlight(); n != 0 {
		t.Fatalf("%d messages sent before the linger ended", n)
	}
	if err := s.Audit(ctx, numbered(1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both records sent together", func() bool { return pub.inFlight() == 1 })
	pub.release(0, nil)
	waitFor(t, "both delivered", func() bool { return s.Stats().Delivered == 2 })
	if got := pub.got(); fmt.Sprint(got) != fmt.Sprint([]string{spoolLine(0), spoolLine(1)}) {
		t.Fatalf("stored %q", got)
	}

	now := &windowPub{seen: map[string]bool{}}
	s2, err := NewSpool(SpoolConfig{Dir: t.TempDir(), Linger: -1}, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := s2.Audit(ctx, numbered(0)); err != nil {
		t.Fatal(err)
	}
	if err := s2.Audit(ctx, numbered(1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "each record sent at once", func() bool { return now.inFlight() == 2 })
}

// A batch is fixed in the spool when its records are written: a failed
// message is sent again byte for byte (the same Nats-Msg-Id), and so is
// one in flight when the process stops, by the next spool on the
// directory, even though records were written after it.
func TestSpoolBatchResentSame(t *testing.T) {
	dir := t.TempDir()
	pub := &windowPub{seen: map[string]bool{}}
	s, err := NewSpool(SpoolConfig{Dir: dir, Linger: 100 * time.Millisecond}, pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 3 {
		if err := s.Audit(ctx, numbered(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the batch sent", func() bool { return pub.inFlight() == 1 })
	pub.wmu.Lock()
	first := pub.pending[0].line
	pub.wmu.Unlock()
	if n := len(MessageLines([]byte(first))); n != 3 {
		t.Fatalf("batch of %d records, want 3", n)
	}
	pub.release(1, fmt.Errorf("%w: lost", ErrUnavailable))
	if err := s.Audit(ctx, numbered(3)); err != nil { // written after the batch was cut
		t.Fatal(err)
	}
	waitFor(t, "the retry", func() bool { return pub.inFlight() == 1 })
	pub.wmu.Lock()
	again := pub.pending[0].line
	pub.wmu.Unlock()
	if again != first {
		t.Fatalf("retry sent\n%q\nfirst\n%q", again, first)
	}
	if err := s.Close(); err != nil { // the retry never answered
		t.Fatal(err)
	}
	if err := os.Remove(s.cursorPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	pub2 := &windowPub{seen: map[string]bool{}}
	s2, err := NewSpool(SpoolConfig{Dir: dir, Linger: 100 * time.Millisecond}, pub2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	waitFor(t, "the batch sent after the restart", func() bool { return pub2.inFlight() >= 1 })
	pub2.wmu.Lock()
	restarted := pub2.pending[0].line
	pub2.wmu.Unlock()
	if restarted != first {
		t.Fatalf("after restart sent\n%q\nfirst\n%q", restarted, first)
	}
	for len(pub2.got()) < 4 {
		waitFor(t, "more in flight", func() bool { return pub2.inFlight() > 0 })
		pub2.release(0, nil)
	}
	want := []string{spoolLine(0), spoolLine(1), spoolLine(2), spoolLine(3)}
	if got := pub2.got(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stored %q", got)
	}
}

// A batch is cut at SpoolBatchBytes.
func TestSpoolBatchBytes(t *testing.T) {
	pub := &memPub{}
	s, err := NewSpool(SpoolConfig{Dir: t.TempDir(), Linger: time.Hour}, pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	one := int64(frameHeader + len(spoolLine(0)))
	n := int(SpoolBatchBytes/one) + 1
	for i := range n {
		if err := s.Audit(context.Background(), numbered(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the full batch", func() bool { return s.Stats().Delivered == uint64(n-1) })
	time.Sleep(100 * time.Millisecond)
	if d := s.Stats().Delivered; d != uint64(n-1) {
		t.Fatalf("%d delivered, want %d (the last waits for its linger)", d, n-1)
	}
}

// An idle deliverer writes the cursor within cursorSaveDelay of the last
// acknowledgement.
func TestSpoolCursorWrittenWhenIdle(t *testing.T) {
	pub := &memPub{}
	dir := t.TempDir()
	s, err := NewSpool(SpoolConfig{Dir: dir}, pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 3 {
		if err := s.Audit(context.Background(), numbered(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "3 records", func() bool { return s.Stats().Delivered == 3 })
	s.mu.Lock()
	want := s.cur
	s.mu.Unlock()
	deadline := time.Now().Add(cursorSaveDelay + 2*time.Second)
	for {
		b, err := os.ReadFile(s.cursorPath())
		if c, ok := decodeCursor(b); err == nil && ok && c == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cursor file %x, want %+v", b, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A batch gathered over the linger from several writes is sent from the
// spool's memory, not read back from disk, while the deliverer keeps up;
// once delivered, the tail it was read from is let go. A backlog past
// what the spool keeps in memory is read back (and counted).
func TestSpoolBatchFromMemory(t *testing.T) {
	pub := &memPub{}
	s, err := NewSpool(SpoolConfig{Dir: t.TempDir(), Linger: 300 * time.Millisecond}, pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := range 3 {
		if err := s.Audit(ctx, numbered(i)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // the deliverer looks at each write
	}
	waitFor(t, "the batch delivered", func() bool { return s.Stats().Delivered == 3 })
	if got, want := pub.got(), []string{spoolLine(0), spoolLine(1), spoolLine(2)}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stored %q", got)
	}
	if n := s.Stats().ReadBack; n != 0 {
		t.Fatalf("%d bytes read back from disk while delivery kept up", n)
	}
	s.mu.Lock()
	tail := len(s.recent.buf)
	s.mu.Unlock()
	if tail != 0 {
		t.Fatalf("%d delivered bytes still held in memory", tail)
	}

	// a backlog larger than the in-memory tail: the stream is down while
	// it is written, and the oldest records come from disk
	pub.setDown(true)
	big := numbered(3)
	big.Data = json.RawMessage(`{"blob":"` + strings.Repeat("x", 64<<10) + `"}`)
	n := tailBytes/(64<<10) + 4
	for range n {
		if err := s.Audit(ctx, big); err != nil {
			t.Fatal(err)
		}
	}
	pub.setDown(false)
	waitFor(t, "the backlog delivered", func() bool { return s.Stats().Delivered == uint64(3+n) })
	if s.Stats().ReadBack == 0 {
		t.Fatal("a backlog past the in-memory tail was not read back from disk")
	}
}

// With SpoolConfig.Drain, Close sends the open batch at once and returns
// once the stream holds it; when the stream does not answer, Close does
// not wait out the drain, and the records wait on disk for the next
// spool on the directory.
func TestSpoolCloseDrains(t *testing.T) {
	ctx := context.Background()
	pub := &memPub{}
	s, err := NewSpool(SpoolConfig{Dir: t.TempDir(), Linger: time.Hour, Drain: 10 * time.Second}, pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.Audit(ctx, numbered(i)); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := pub.got(), []string{spoolLine(0), spoolLine(1), spoolLine(2)}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after Close the stream holds %q", got)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("Close took %v", el)
	}

	dir := t.TempDir()
	down := &memPub{down: true}
	s, err = NewSpool(SpoolConfig{Dir: dir, Linger: time.Hour, Drain: 10 * time.Second}, down, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Audit(ctx, numbered(0)); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("Close with the stream down took %v", el)
	}
	up := &memPub{}
	s, err = NewSpool(SpoolConfig{Dir: dir, Linger: -1}, up, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	waitFor(t, "the record delivered by the next spool", func() bool { return len(up.got()) == 1 })
}
