package audit

import (
	"context"
	"errors"
	"os"
	"time"
)

// deliver sends the spooled records in order until Close: one at a
// time, each acknowledged before the next is sent, so the stream holds
// each writer's records in the order they were spooled. A failed
// publish is retried with backoff (spoolRetryMin doubling to
// spoolRetryMax), forever: the record stays first in line.
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
	d := &deliverer{s: s}
	defer d.close()
	for d.step(ctx) {
	}
}

// deliverer is the state of the delivery goroutine.
type deliverer struct {
	s       *Spool
	rf      *os.File // reader of the cursor's segment
	rfNum   uint64
	buf     []byte
	backoff time.Duration
	failing bool
	cfile   *os.File
}

func (d *deliverer) close() {
	if d.rf != nil {
		d.rf.Close()
	}
	if d.cfile != nil {
		d.cfile.Close()
	}
}

// step delivers (or waits for) the next record; false ends delivery.
func (d *deliverer) step(ctx context.Context) bool {
	s := d.s
	sg, size, isHead := s.position()
	if s.cur.off >= size {
		if isHead {
			select {
			case <-s.wake:
				return true
			case <-ctx.Done():
				return false
			}
		}
		if err := s.dropSegment(sg); err != nil {
			s.log.WithError(err).Error("audit spool: cannot remove a delivered segment")
			return sleep(ctx, spoolRetryMax)
		}
		return true
	}
	if d.rf == nil || d.rfNum != sg.num {
		if d.rf != nil {
			d.rf.Close()
		}
		var err error
		if d.rf, err = os.Open(sg.path); err != nil {
			d.rf = nil
			s.log.WithError(err).Error("audit spool: cannot open a segment")
			return sleep(ctx, spoolRetryMax)
		}
		d.rfNum = sg.num
	}
	line, n, err := readFrame(d.rf, s.cur.off, size, d.buf)
	if err != nil {
		// size only covers synced whole frames: this is a disk fault
		s.log.WithError(err).Errorf("AUDIT SPOOL: unreadable record in %s at %d; skipping the rest of the segment", sg.path, s.cur.off)
		s.advance(size - s.cur.off)
		return true
	}
	d.buf = line
	if err := s.pub.PublishRecord(ctx, line); err != nil {
		if ctx.Err() != nil {
			return false
		}
		s.pubErrs.Add(1)
		if !d.failing {
			d.failing = true
			s.log.WithError(err).Warn("audit spool: stream unavailable; records stay on disk and are retried")
		}
		d.backoff = min(max(2*d.backoff, spoolRetryMin), spoolRetryMax)
		return sleep(ctx, d.backoff)
	}
	if d.failing {
		d.failing = false
		s.log.Info("audit spool: stream reachable again; delivering the backlog")
	}
	d.backoff = 0
	s.delivered.Add(1)
	s.advance(n)
	d.cfile = s.saveCursor(d.cfile)
	return true
}

// position returns the cursor's segment, its synced size, and whether
// it is the head (still written to).
func (s *Spool) position() (sg *segment, size int64, isHead bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sg = s.segs[0]
	return sg, sg.size, len(s.segs) == 1
}

// advance moves the cursor past n delivered bytes.
func (s *Spool) advance(n int64) {
	s.mu.Lock()
	s.cur.off += n
	s.used -= n
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

// saveCursor writes the cursor in place (one 20-byte pwrite, no fsync:
// see cursor).
func (s *Spool) saveCursor(f *os.File) *os.File {
	if f == nil {
		var err error
		if f, err = os.OpenFile(s.cursorPath(), os.O_RDWR|os.O_CREATE, 0o600); err != nil {
			s.log.WithError(err).Warn("audit spool: cannot write the cursor; a restart sends records again (deduplicated by the stream)")
			return nil
		}
	}
	s.mu.Lock()
	c := s.cur
	s.mu.Unlock()
	if _, err := f.WriteAt(c.encode(), 0); err != nil {
		s.log.WithError(err).Warn("audit spool: cannot write the cursor")
	}
	return f
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
