package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// DefaultSpoolWindow is how many records the deliverer keeps sent and not
// yet acknowledged when SpoolConfig.Window is not set.
const DefaultSpoolWindow = 32

// cursorSaveEvery bounds the acknowledged records between two cursor
// writes, and cursorSaveDelay how long an acknowledged record waits for
// one while delivery is idle (the cursor is also written when delivery
// stops). A crash sends those again; the stream drops the duplicates
// (its duplicate window is minutes long). Writing it at most once a
// second instead of after every acknowledged batch saves a syscall per
// request on a node; the cursor file stays open (Spool.cf), so a write
// is one pwrite(2).
const (
	cursorSaveEvery = 64
	cursorSaveDelay = time.Second
)

// AsyncPublisher is a Publisher that can have several records in flight
// on one connection. The deliverer sends up to SpoolConfig.Window records
// before the first is acknowledged; they reach the stream in the order
// they were sent, so each writer's records stay in order.
type AsyncPublisher interface {
	Publisher
	// PublishRecordAsync sends line (kept until its result is known) with
	// the same Nats-Msg-Id as PublishRecord and returns a channel that
	// receives the stream's answer once: nil when stored. An error
	// returned at once means nothing was sent.
	PublishRecordAsync(line []byte) (<-chan error, error)
}

// deliver sends the spooled records in order until Close. With an
// AsyncPublisher it keeps up to a window of records in flight; their
// acknowledgements are taken in order and the cursor moves past each
// acknowledged record. A failed publish drops the window, waits
// (spoolRetryMin doubling to spoolRetryMax) and sends again from the
// first unacknowledged record, one at a time until one is stored: the
// records of the window that were stored are dropped by the stream as
// duplicates (Nats-Msg-Id), so each is stored once and in order. The
// one case that can reorder: the stream refuses a record and stores the
// next one already in flight (a full stream that frees space between
// the two); tutti audit verify reports it.
func (s *Spool) deliver() {
	defer close(s.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	d := &deliverer{s: s, window: s.cfg.Window, drainC: s.drain}
	d.async, _ = s.pub.(AsyncPublisher)
	if d.async == nil {
		d.window = 1
	}
	defer d.close()
	for d.step(ctx) {
	}
	if d.unsaved > 0 {
		d.saveCursor()
	}
}

// deliverer is the state of the delivery goroutine.
type deliverer struct {
	s        *Spool
	async    AsyncPublisher // nil: s.pub one record at a time
	window   int
	inflight []inflight // sent, oldest first, from the cursor on
	sent     int64      // bytes of the in-flight frames
	rf       *os.File   // reader of the cursor's segment
	rfNum    uint64
	ahead    written // bytes read ahead from rf
	backoff  time.Duration
	failing  bool      // since the last failure, until a record is stored
	unsaved  int       // acknowledged records since the cursor was written
	savedAt  time.Time // when the cursor was last written
	saveT    *time.Timer
	timer    *time.Timer     // for linger
	drainC   <-chan struct{} // Spool.drain until it is closed, then nil
	draining bool            // Close asked to deliver what is written and stop
}

// drained notes a closed Spool.drain; true when it was.
func (d *deliverer) drained() bool {
	d.draining, d.drainC = true, nil
	return true
}

type inflight struct {
	n       int64 // bytes of the batch's frames
	records int
	res     <-chan error
}

// batch is the stream message at a position of the spool: the lines of
// consecutive frames, the first one and those that join it.
type streamBatch struct {
	lines [][]byte
	n     int64 // bytes of the frames
	open  bool  // ends at the end of what is written: may still grow
}

func (d *deliverer) close() {
	if d.rf != nil {
		d.rf.Close()
	}
}

// step sends the next batch, or takes the next acknowledgement, or
// waits for a record or for the open batch's linger; false ends
// delivery.
func (d *deliverer) step(ctx context.Context) bool {
	s := d.s
	if d.draining && d.failing {
		return false // the stream does not answer: the records wait on disk
	}
	sg, size, isHead := s.position()
	off := s.cur.off + d.sent
	limit := d.window
	if d.failing {
		limit = 1 // after a failure: one at a time until one is stored
	}
	if off < size && len(d.inflight) < limit {
		b, err := d.scan(sg, off, size)
		if err != nil {
			return d.unreadable(ctx, sg, off, size, err)
		}
		if b.open && isHead {
			linger := s.cfg.Linger
			if d.failing || d.draining {
				linger = 0 // a retry, or the last batch, does not wait for more
			}
			wait, ready := s.closeBatch(linger)
			if !ready {
				return d.await(ctx, wait)
			}
			// closed and whole now: records written since the scan may
			// have joined it before it closed, so read it again
			if b, err = d.scan(sg, off, s.writtenSize(sg)); err != nil {
				return d.unreadable(ctx, sg, off, size, err)
			}
		}
		return d.send(ctx, b)
	}
	if len(d.inflight) > 0 {
		return d.ack(ctx, len(d.inflight) < limit, nil)
	}
	if isHead {
		if d.draining {
			return false // all written is delivered
		}
		return d.idle(ctx)
	}
	if err := s.dropSegment(sg); err != nil {
		s.log.WithError(err).Error("audit spool: cannot remove a delivered segment")
		return sleep(ctx, spoolRetryMax)
	}
	return true
}

// scan reads the batch at off of sg (size bytes written). A segment's
// first frame starts a batch whatever its flag says.
func (d *deliverer) scan(sg *segment, off, size int64) (streamBatch, error) {
	var b streamBatch
	for at := off; ; {
		if at >= size {
			b.open = true
			return b, nil
		}
		line, n, join, err := d.frame(sg, at, size)
		if err != nil {
			if len(b.lines) > 0 {
				return b, nil // what is whole; the next scan meets the fault
			}
			return b, err
		}
		if len(b.lines) > 0 && (!join || b.n+n > SpoolBatchBytes) {
			return b, nil
		}
		b.lines = append(b.lines, line)
		b.n += n
		at += n
	}
}

// await waits for the open batch: wait (0: until a record is written),
// a write that wakes the deliverer (one that starts the next batch or
// ends the open one's wait, see Spool.append), or the oldest
// acknowledgement.
func (d *deliverer) await(ctx context.Context, wait time.Duration) bool {
	if wait <= 0 {
		return d.ack(ctx, true, nil)
	}
	if d.timer == nil {
		d.timer = time.NewTimer(wait)
	} else {
		d.timer.Reset(wait)
	}
	return d.ack(ctx, true, d.timer.C)
}

// idle waits for a record with everything delivered: the segment
// reader is closed (a backlog opens it again), and the cursor is written
// once cursorSaveDelay has passed since it last was.
func (d *deliverer) idle(ctx context.Context) bool {
	if d.rf != nil {
		d.rf.Close()
		d.rf = nil
	}
	var due <-chan time.Time
	if d.unsaved > 0 {
		wait := cursorSaveDelay - time.Since(d.savedAt)
		if wait <= 0 {
			d.saveCursor()
			return true
		}
		if d.saveT == nil {
			d.saveT = time.NewTimer(wait)
		} else {
			d.saveT.Reset(wait)
		}
		due = d.saveT.C
	}
	select {
	case <-d.s.wake:
		return true
	case <-d.drainC:
		return d.drained()
	case <-due:
		d.saveCursor()
		return true
	case <-ctx.Done():
		return false
	}
}

// readAhead is how much the deliverer reads from a segment at once when
// the record is no longer in memory (a backlog).
const readAhead = 64 << 10

// frame returns the frame at off of sg (size bytes written): from the
// spool's in-memory tail when it is there (the deliverer keeps up), else
// from what was read ahead, else read from the file with what follows
// it. The line is not changed afterwards: the publisher may keep it.
func (d *deliverer) frame(sg *segment, off, size int64) (line []byte, n int64, join bool, err error) {
	s := d.s
	s.mu.Lock()
	r := s.recent
	s.mu.Unlock()
	for _, w := range []written{r, d.ahead} {
		if w.seg == sg.num && off >= w.off && holdsFrame(w.buf, off-w.off) {
			line, n, err = parseFrame(w.buf[off-w.off:])
			return line, n, err == nil && frameJoinsPrev(w.buf[off-w.off:]), err
		}
	}
	if d.rf == nil || d.rfNum != sg.num {
		if d.rf != nil {
			d.rf.Close()
		}
		if d.rf, err = os.Open(sg.path); err != nil {
			d.rf = nil
			return nil, 0, false, fmt.Errorf("%w: %w", errOpen, err)
		}
		d.rfNum = sg.num
	}
	buf := make([]byte, min(size-off, readAhead)) // a new buffer: the publisher keeps its lines
	if _, err := d.rf.ReadAt(buf, off); err != nil {
		return nil, 0, false, fmt.Errorf("%w: at %d: %w", errBadFrame, off, err)
	}
	s.readBack.Add(uint64(len(buf)))
	d.ahead = written{seg: sg.num, off: off, buf: buf}
	if !holdsFrame(buf, 0) && len(buf) == readAhead {
		line, n, err = readFrame(d.rf, off, size, nil) // a record longer than readAhead
	} else {
		line, n, err = parseFrame(buf)
	}
	return line, n, err == nil && frameJoinsPrev(buf), err
}

// holdsFrame reports whether b holds a whole frame at off.
func holdsFrame(b []byte, off int64) bool {
	if off < 0 || off+frameHeader > int64(len(b)) {
		return false
	}
	return off+frameHeader+frameLen(b[off:]) <= int64(len(b))
}

// errOpen is a segment that cannot be opened: retried.
var errOpen = errors.New("audit spool: cannot open a segment")

// unreadable handles a frame at off of sg that cannot be read.
func (d *deliverer) unreadable(ctx context.Context, sg *segment, off, size int64, err error) bool {
	s := d.s
	if errors.Is(err, errOpen) {
		s.log.WithError(err).Error("audit spool: cannot read the spool")
		return sleep(ctx, spoolRetryMax)
	}
	if len(d.inflight) > 0 {
		return d.ack(ctx, false, nil) // settle the window first
	}
	// size only covers whole written frames: this is a disk fault
	s.log.WithError(err).Errorf("AUDIT SPOOL: unreadable record in %s at %d; skipping the rest of the segment", sg.path, off)
	s.advance(size - off)
	return true
}

// send publishes batch b as one stream message: its lines, newline
// separated (one line alone as it is).
func (d *deliverer) send(ctx context.Context, b streamBatch) bool {
	s := d.s
	msg := b.lines[0]
	if len(b.lines) > 1 {
		msg = bytes.Join(b.lines, []byte{'\n'})
	}
	var res <-chan error
	var err error
	if d.async != nil {
		if res, err = d.async.PublishRecordAsync(msg); err != nil {
			res = settled(err)
		}
	} else {
		res = settled(s.pub.PublishRecord(ctx, msg))
	}
	d.inflight = append(d.inflight, inflight{n: b.n, records: len(b.lines), res: res})
	d.sent += b.n
	return true
}

// ack takes the oldest in-flight batch's result. While it waits, a
// newly written record ends the wait when the window has room (more),
// and so does until. With nothing in flight it only waits.
func (d *deliverer) ack(ctx context.Context, more bool, until <-chan time.Time) bool {
	s := d.s
	wake := s.wake
	if !more {
		wake = nil
	}
	var res <-chan error
	if len(d.inflight) > 0 {
		res = d.inflight[0].res
	}
	var err error
	select {
	case err = <-res:
	case <-wake:
		return true
	case <-until:
		return true
	case <-d.drainC:
		return d.drained()
	case <-ctx.Done():
		return false
	}
	if err != nil {
		return d.failed(ctx, err)
	}
	n, records := d.inflight[0].n, d.inflight[0].records
	d.inflight = d.inflight[1:]
	d.sent -= n
	if d.failing {
		d.failing = false
		s.log.Info("audit spool: stream reachable again; delivering the backlog")
	}
	d.backoff = 0
	s.delivered.Add(uint64(records))
	s.advance(n)
	if d.unsaved += records; d.unsaved >= cursorSaveEvery {
		d.saveCursor()
	}
	return true
}

// failed drops the window after a failed publish and waits before
// sending again from the cursor.
func (d *deliverer) failed(ctx context.Context, err error) bool {
	s := d.s
	if ctx.Err() != nil {
		return false
	}
	d.inflight, d.sent = d.inflight[:0], 0
	s.pubErrs.Add(1)
	if !d.failing {
		d.failing = true
		s.log.WithError(err).Warn("audit spool: stream unavailable; records stay on disk and are retried")
	}
	if d.unsaved > 0 {
		d.saveCursor()
	}
	d.backoff = min(max(2*d.backoff, spoolRetryMin), spoolRetryMax)
	return sleep(ctx, d.backoff)
}

// settled is a result known at once.
func settled(err error) <-chan error {
	c := make(chan error, 1)
	c <- err
	return c
}

// position returns the cursor's segment, its written size, and whether
// it is the head (still written to).
func (s *Spool) position() (sg *segment, size int64, isHead bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sg = s.segs[0]
	return sg, sg.size, len(s.segs) == 1
}

// writtenSize is the bytes written to sg.
func (s *Spool) writtenSize(sg *segment) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sg.size
}

// advance moves the cursor past n delivered bytes.
func (s *Spool) advance(n int64) {
	s.mu.Lock()
	s.cur.off += n
	s.used -= n
	s.dropTail()
	s.mu.Unlock()
}

// dropSegment removes the delivered segment sg (not the head) and moves
// the cursor to the start of the next one.
func (s *Spool) dropSegment(sg *segment) error {
	s.mu.Lock()
	s.segs = s.segs[1:]
	s.cur = cursor{seg: s.segs[0].num}
	s.mu.Unlock()
	if err := os.Remove(sg.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// saveCursor writes the cursor (one 20-byte write, no fsync: see
// cursor) to its file, which the spool keeps open.
func (d *deliverer) saveCursor() {
	s := d.s
	d.unsaved, d.savedAt = 0, time.Now()
	s.mu.Lock()
	c := s.cur
	s.mu.Unlock()
	if _, err := s.cf.WriteAt(c.encode(), 0); err != nil {
		s.log.WithError(err).Warn("audit spool: cannot write the cursor; a restart sends records again (deduplicated by the stream)")
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
