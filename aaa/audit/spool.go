package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// Spool defaults.
const (
	DefaultSpoolMaxBytes     = 256 << 20
	DefaultSpoolSegmentBytes = 4 << 20
	spoolRetryMin            = 100 * time.Millisecond
	spoolRetryMax            = 5 * time.Second
)

// ErrSpoolFull is matched by an Audit error when the spool holds
// SpoolConfig.MaxBytes of undelivered records: the record was not
// stored, and the caller fails closed.
var ErrSpoolFull = errors.New("audit: spool is full")

// Publisher sends one encoded record line to the central stream and
// returns once the stream has acknowledged it. The same line may be
// sent more than once (after a timeout, after a restart); the publisher
// makes the stream store it once (JetStream.PublishRecord sets
// Nats-Msg-Id to the line's SHA-256).
type Publisher interface {
	PublishRecord(ctx context.Context, line []byte) error
}

// SpoolConfig is a spool directory (plugin.tutti.audit.spool_* on a
// node, the signer's jetstream spool settings in tutti-aaa).
type SpoolConfig struct {
	// Dir holds the segment files; created (0700) when missing. One
	// spool per directory: two processes must not share it.
	Dir string
	// MaxBytes bounds the undelivered records (frames) on disk; a record
	// that would pass it is refused with ErrSpoolFull. Default
	// DefaultSpoolMaxBytes.
	MaxBytes int64
	// SegmentBytes is the size past which the next write starts a new
	// segment file; delivered segments are removed whole. Default
	// DefaultSpoolSegmentBytes (at most MaxBytes).
	SegmentBytes int64
	// FsyncInterval is the fsync policy. 0 fsyncs every write before
	// Audit returns (group commit): nothing Audit returned nil for is
	// lost, even by a power loss. A positive interval returns once the
	// record is written (write(2) done: a kill -9 of the process loses
	// nothing) and fsyncs a record the stream has not acknowledged once
	// it has waited that long since its write, so a power loss can lose
	// the records written in the last interval that the stream had not
	// acknowledged yet. Records the stream acknowledged within the
	// interval are never fsynced: the stream holds them.
	FsyncInterval time.Duration
	// Window is how many records are sent before the first of them is
	// acknowledged, when the Publisher is an AsyncPublisher; default
	// DefaultSpoolWindow.
	Window int
	// Linger is how long a node's consecutive records may gather into
	// one stream message (a batch: the records' lines, newline
	// separated, under one Nats-Msg-Id) before it is sent: the batch
	// opens with the first record written while none is open and is cut
	// when Linger has passed since, or at SpoolBatchBytes. Which records
	// a batch holds is written in the spool with them (a frame flag) as
	// they are written, so a retry or a restart sends exactly the same
	// message again and the stream drops it as a duplicate. Records are
	// on disk meanwhile; only their arrival in the stream is later. 0
	// means DefaultSpoolLinger; negative sends each record alone at once.
	Linger time.Duration
	// Drain is how long Close lets delivery go on first: the open batch
	// is sent at once and Close returns when the stream holds every
	// record written, when delivery fails, or when Drain has passed. A
	// node that stops for good (retired) then leaves nothing behind that
	// only its disk holds. 0: Close stops delivery at once.
	Drain time.Duration
}

// DefaultSpoolLinger is SpoolConfig.Linger when it is not set: records
// written right after one another (a node writes its decision before
// the action and the outcome after it) go out together.
const DefaultSpoolLinger = 2 * time.Millisecond

// SpoolBatchBytes bounds the frames of one batch (stream message); a
// record that would pass it starts the next batch. Far below NATS's
// default max_payload (1 MiB).
const SpoolBatchBytes = 256 << 10

// SpoolStats are a spool's counters, for metrics.
type SpoolStats struct {
	Spooled       uint64 // records written to disk
	Delivered     uint64 // records acknowledged by the stream
	PendingBytes  int64  // undelivered bytes on disk
	Refused       uint64 // records refused because the spool was full
	WriteErrors   uint64 // records refused because the disk write or fsync failed
	PublishErrors uint64 // failed delivery attempts (each retried)
	ReadBack      uint64 // bytes the deliverer read back from disk: a backlog past what the spool keeps in memory
	Full          bool   // the last record offered was refused as over MaxBytes
}

// Spool is an Auditor that stores each record on local disk before
// Audit returns and delivers it to a Publisher in the background, in
// order, removing it once acknowledged. See doc.go for the durability
// contract.
type Spool struct {
	cfg SpoolConfig
	pub Publisher
	log *logrus.Entry
	// sync is (*os.File).Sync for the records' fsyncs; tests count them.
	sync func(*os.File) error

	mu       sync.Mutex
	closed   bool
	writing  bool        // a caller is writing a batch without mu
	next     *spoolBatch // records waiting for the next write
	segs     []*segment  // undelivered segments in order; the last one is the head
	head     *os.File    // the last segment, open for writing
	cf       *os.File    // the cursor file, written by the deliverer
	cur      cursor      // delivery position in segs[0]
	used     int64       // undelivered bytes, including batches being written
	full     bool        // logged "spool full" and not yet "accepting again"
	syncDue  *time.Timer // FsyncInterval > 0: a deferred fsync is armed
	unsynced []unsynced  // FsyncInterval > 0: writes since the last fsync, oldest first
	recent   written     // the undelivered tail as written, read by the deliverer without a read(2)
	// The open batch (stream message) new records join, see Linger.
	open      bool
	openAt    time.Time
	openBytes int64
	built     uint64 // records framed; settled: of them, written or failed
	settled   uint64

	wake  chan struct{} // a batch was written
	drain chan struct{} // closed by Close: deliver what is written, then stop
	stop  chan struct{}
	done  chan struct{}

	spooled, delivered, refused, writeErrs, pubErrs, readBack atomic.Uint64
}

// written is frames as written at off of segment seg. Bytes in buf are
// never changed once there: the spool only appends past len(buf) or
// replaces buf.
type written struct {
	seg uint64
	off int64
	buf []byte
}

type spoolBatch struct {
	buf    []byte
	n      int
	starts bool // a frame of it starts a stream message
	done   chan struct{}
	err    error
}

// NewSpool opens (or creates) the spool in cfg.Dir, truncates a torn
// tail left by a crash, and starts delivering what it holds to pub.
// log may be nil.
func NewSpool(cfg SpoolConfig, pub Publisher, log *logrus.Entry) (*Spool, error) {
	if cfg.Dir == "" || pub == nil {
		return nil, errors.New("audit spool: directory and publisher are required")
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultSpoolMaxBytes
	}
	if cfg.SegmentBytes <= 0 {
		cfg.SegmentBytes = DefaultSpoolSegmentBytes
	}
	cfg.SegmentBytes = min(cfg.SegmentBytes, cfg.MaxBytes)
	if cfg.Window <= 0 {
		cfg.Window = DefaultSpoolWindow
	}
	if cfg.Linger == 0 {
		cfg.Linger = DefaultSpoolLinger
	}
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = logrus.NewEntry(l)
	}
	s := &Spool{cfg: cfg, pub: pub, log: log.WithField("spool", cfg.Dir), sync: (*os.File).Sync, next: &spoolBatch{done: make(chan struct{})},
		wake: make(chan struct{}, 1), drain: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit spool: %w", err)
	}
	if err := s.load(); err != nil {
		if s.cf != nil {
			s.cf.Close()
		}
		return nil, fmt.Errorf("audit spool %s: %w", cfg.Dir, err)
	}
	go s.deliver()
	return s, nil
}

// load reads the cursor and segments, truncates torn tails, removes
// delivered segments and opens the head for writing.
func (s *Spool) load() error {
	segs, err := listSegments(s.cfg.Dir)
	if err != nil {
		return err
	}
	// the cursor file is opened (created) here and kept open: its writes
	// are then one pwrite(2) each, and creating it does not fall on the
	// first request
	cf, err := os.OpenFile(s.cursorPath(), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("cursor: %w", err)
	}
	s.cf = cf
	var b [20]byte
	if n, _ := cf.ReadAt(b[:], 0); n == len(b) {
		if c, ok := decodeCursor(b[:]); ok {
			s.cur = c
		}
	}
	var keep []*segment
	for _, sg := range segs {
		if sg.num < s.cur.seg {
			if err := os.Remove(sg.path); err != nil {
				return err
			}
			continue
		}
		if err := s.validate(sg); err != nil {
			return err
		}
		keep = append(keep, sg)
	}
	if len(keep) == 0 || keep[0].num != s.cur.seg || s.cur.off > keep[0].size {
		s.cur.off = 0 // the cursor's segment is gone: start at the oldest
	}
	if len(keep) > 0 {
		s.cur.seg = keep[0].num
	}
	s.segs = keep
	for _, sg := range keep {
		s.used += sg.size
	}
	s.used -= s.cur.off
	next := s.cur.seg
	if len(keep) > 0 {
		next = keep[len(keep)-1].num + 1
	}
	return s.newHead(next)
}

// validate sets sg.size to its valid prefix, truncating what follows.
func (s *Spool) validate(sg *segment) error {
	f, err := os.OpenFile(sg.path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	valid, _ := scanSegment(f, fi.Size())
	if valid < fi.Size() {
		s.log.Warnf("segment %s: dropping %d bytes of torn or corrupt tail after %d", sg.path, fi.Size()-valid, valid)
		if err := f.Truncate(valid); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
	}
	sg.size = valid
	return nil
}

// newHead creates segment num and makes it the head (mu held or not
// yet shared).
func (s *Spool) newHead(num uint64) error {
	sg := &segment{num: num, path: segmentName(s.cfg.Dir, num)}
	f, err := os.OpenFile(sg.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := syncDir(s.cfg.Dir); err != nil {
		f.Close()
		return err
	}
	if s.head != nil {
		if s.cfg.FsyncInterval > 0 { // the deferred fsync covers the head only
			if err := s.sync(s.head); err != nil {
				f.Close()
				return err
			}
			s.unsynced = s.unsynced[:0] // all of them were on the old head
		}
		_ = s.head.Close()
	}
	s.head = f
	s.segs = append(s.segs, sg)
	return nil
}

func (s *Spool) cursorPath() string { return s.cfg.Dir + string(os.PathSeparator) + cursorFile }

// Audit encodes e and writes it to the spool, returning once the record
// is on disk: written, and fsynced unless SpoolConfig.FsyncInterval
// defers the fsync. Callers arriving while a write is in progress are
// batched into the next write and its one fsync (group commit). ctx is
// not used: the write is local.
func (s *Spool) Audit(_ context.Context, e Entry) error {
	line, err := e.AppendAudit(nil)
	if err != nil {
		return fmt.Errorf("audit spool: encode record %s: %w", e.AuditID(), err)
	}
	if len(line) == 0 || len(line) > maxFrameLine {
		return fmt.Errorf("audit spool: record %s: %d bytes is out of range", e.AuditID(), len(line))
	}
	if err := s.append(line); err != nil {
		return fmt.Errorf("audit spool: record %s: %w", e.AuditID(), err)
	}
	return nil
}

// append adds line to the next batch and waits for the batch's write.
func (s *Spool) append(line []byte) error {
	size := int64(frameHeader + len(line))
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.used+size > s.cfg.MaxBytes {
		first := !s.full
		s.full = true
		s.mu.Unlock()
		s.refused.Add(1)
		if first {
			s.log.Errorf("AUDIT SPOOL FULL: %d bytes undelivered (limit %d); refusing records until the stream catches up", s.used, s.cfg.MaxBytes)
		}
		return fmt.Errorf("%w (%d bytes undelivered, limit %d)", ErrSpoolFull, s.used, s.cfg.MaxBytes)
	}
	if s.full {
		s.full = false
		s.log.Warn("audit spool accepts records again")
	}
	s.used += size
	join := s.open && s.openBytes+size <= SpoolBatchBytes
	if !join {
		s.open, s.openAt, s.openBytes = s.cfg.Linger > 0, time.Now(), 0
	}
	s.openBytes += size
	s.built++
	b := s.next
	b.buf = appendFrameJoin(b.buf, line, join)
	b.n++
	b.starts = b.starts || !join
	if s.writing {
		s.mu.Unlock()
		<-b.done
		return b.err
	}
	s.writing = true
	wake := false
	for s.next.n > 0 {
		w := s.next
		s.next = &spoolBatch{done: make(chan struct{})}
		s.mu.Unlock()
		err := s.write(w)
		s.mu.Lock()
		if err != nil {
			s.used -= int64(len(w.buf))
			s.writeErrs.Add(uint64(w.n))
			s.log.WithError(err).Errorf("AUDIT SPOOL WRITE FAILED for %d records", w.n)
		} else {
			s.spooled.Add(uint64(w.n))
		}
		s.settled += uint64(w.n)
		wake = wake || w.starts
		w.err = err
		close(w.done)
	}
	s.writing = false
	// a record that joins the open batch does not wake the deliverer,
	// which waits for the batch's linger anyway; one that starts a batch
	// does, and so does any once the open batch is closed (the deliverer
	// may wait for its last records to be written)
	wake = wake || !s.open
	s.mu.Unlock()
	if wake {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	<-b.done
	return b.err
}

// write appends a batch to the head segment (starting a new one when
// the head is past SegmentBytes) and fsyncs it, or arms the deferred
// fsync (FsyncInterval). Only the caller holding
// s.writing calls it. A failed write is cut off so the segment holds
// whole frames only.
func (s *Spool) write(b *spoolBatch) error {
	s.mu.Lock()
	h := s.segs[len(s.segs)-1]
	if h.size > 0 && h.size+int64(len(b.buf)) > s.cfg.SegmentBytes {
		if err := s.newHead(h.num + 1); err != nil {
			s.mu.Unlock()
			return fmt.Errorf("new segment: %w", err)
		}
		h = s.segs[len(s.segs)-1]
		b.starts = true // a segment's first frame starts a stream message
	}
	f, off := s.head, h.size
	s.mu.Unlock()
	_, err := f.WriteAt(b.buf, off)
	if err == nil && s.cfg.FsyncInterval <= 0 {
		err = s.sync(f)
	}
	if err != nil {
		_ = f.Truncate(off)
		return err
	}
	s.mu.Lock()
	h.size += int64(len(b.buf))
	s.keepTail(h.num, off, b.buf)
	if s.cfg.FsyncInterval > 0 {
		s.markUnsynced(h.num, h.size)
	}
	s.mu.Unlock()
	return nil
}

// unsynced is a write not yet fsynced: the head segment's bytes up to
// end, written first at at.
type unsynced struct {
	seg uint64
	end int64
	at  time.Time
}

// markUnsynced notes a write ending at end of segment seg for the
// deferred fsync and arms it (mu held). Writes within a millisecond of
// the last noted one share its note (and its earlier time), so the
// notes stay few however many records are written.
func (s *Spool) markUnsynced(seg uint64, end int64) {
	now := time.Now()
	if n := len(s.unsynced); n > 0 && s.unsynced[n-1].seg == seg && now.Sub(s.unsynced[n-1].at) < time.Millisecond {
		s.unsynced[n-1].end = end
	} else {
		s.unsynced = append(s.unsynced, unsynced{seg: seg, end: end, at: now})
	}
	if s.syncDue == nil && !s.closed {
		s.syncDue = time.AfterFunc(s.cfg.FsyncInterval, s.deferredSync)
	}
}

// dropUnsynced forgets the notes of writes that end at or before off of
// segment seg (mu held).
func (s *Spool) dropUnsynced(seg uint64, off int64) {
	drop := 0
	for _, u := range s.unsynced {
		if u.seg > seg || (u.seg == seg && u.end > off) {
			break
		}
		drop++
	}
	s.unsynced = s.unsynced[drop:]
}

// tailBytes bounds the undelivered records the spool keeps in memory
// for the deliverer (recent); past it, the deliverer reads them back
// from the segment (a backlog while the stream is unreachable).
const tailBytes = 2 * SpoolBatchBytes

// keepTail appends the frames buf, written at off of segment seg, to the
// in-memory tail when they follow it, or starts the tail with them (mu
// held). The deliverer then finds every frame it has yet to send in
// memory while it keeps up: a batch gathered over the linger spans
// several writes.
func (s *Spool) keepTail(seg uint64, off int64, buf []byte) {
	r := &s.recent
	if r.seg == seg && r.off+int64(len(r.buf)) == off && len(r.buf)+len(buf) <= tailBytes {
		r.buf = append(r.buf, buf...)
		return
	}
	*r = written{seg: seg, off: off, buf: buf}
}

// dropTail forgets the in-memory tail before the cursor (mu held): those
// frames are delivered. An emptied tail lets its buffer go.
func (s *Spool) dropTail() {
	r := &s.recent
	if r.seg != s.cur.seg || s.cur.off <= r.off {
		return
	}
	if d := s.cur.off - r.off; d < int64(len(r.buf)) {
		r.buf, r.off = r.buf[d:], s.cur.off
		return
	}
	*r = written{seg: r.seg, off: s.cur.off}
}

// closeBatch ends the open batch once linger has passed since it
// opened: no record written after joins it. wait is how long it stays
// open; ready is true once every record framed before it closed is
// written, so the batch on disk is whole.
func (s *Spool) closeBatch(linger time.Duration) (wait time.Duration, ready bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open {
		if w := linger - time.Since(s.openAt); w > 0 {
			return w, false
		}
		s.open = false
	}
	return 0, s.settled == s.built
}

// deferredSync is the FsyncInterval policy's fsync: of the head, once
// a write on it has waited FsyncInterval without the stream
// acknowledging it (the older segments were fsynced when the head moved
// past them, see newHead). A write the stream acknowledged in time is
// never fsynced: the stream holds it. Until the oldest unacknowledged
// write is due, the fsync waits for it.
func (s *Spool) deferredSync() {
	s.mu.Lock()
	s.syncDue = nil
	s.dropUnsynced(s.cur.seg, s.cur.off) // delivered: the stream holds them
	if len(s.unsynced) == 0 || s.closed {
		s.unsynced = nil
		s.mu.Unlock()
		return
	}
	if wait := s.cfg.FsyncInterval - time.Since(s.unsynced[0].at); wait > 0 {
		s.syncDue = time.AfterFunc(wait, s.deferredSync)
		s.mu.Unlock()
		return
	}
	f, last := s.head, s.unsynced[len(s.unsynced)-1]
	s.mu.Unlock()
	err := s.sync(f)
	if err != nil && !errors.Is(err, os.ErrClosed) {
		s.writeErrs.Add(1)
		s.log.WithError(err).Error("AUDIT SPOOL FSYNC FAILED: undelivered records may not survive a power loss")
	}
	s.mu.Lock()
	s.dropUnsynced(last.seg, last.end) // written before the fsync began: on disk (or reported)
	if len(s.unsynced) > 0 && s.syncDue == nil && !s.closed {
		s.syncDue = time.AfterFunc(max(s.cfg.FsyncInterval-time.Since(s.unsynced[0].at), 0), s.deferredSync)
	}
	s.mu.Unlock()
}

// Stats returns the spool's counters.
func (s *Spool) Stats() SpoolStats {
	s.mu.Lock()
	used, full := s.used, s.full
	s.mu.Unlock()
	return SpoolStats{Spooled: s.spooled.Load(), Delivered: s.delivered.Load(), PendingBytes: used,
		Refused: s.refused.Load(), WriteErrors: s.writeErrs.Load(), PublishErrors: s.pubErrs.Load(), ReadBack: s.readBack.Load(), Full: full}
}

// Reopen implements Auditor; the spool keeps its files open.
func (s *Spool) Reopen() error { return nil }

// Close stops delivery, after up to SpoolConfig.Drain of delivering
// what is written, and closes the files. Undelivered records stay on
// disk and are delivered by the next NewSpool on the directory. The
// publisher is not closed. Close is idempotent.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	if s.cfg.Drain > 0 {
		close(s.drain)
		t := time.NewTimer(s.cfg.Drain)
		select {
		case <-s.done:
		case <-t.C:
		}
		t.Stop()
	}
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.writing { // a batch in flight finishes before the file closes
		s.mu.Unlock()
		time.Sleep(time.Millisecond)
		s.mu.Lock()
	}
	var err error
	if s.syncDue != nil {
		s.syncDue.Stop()
		s.syncDue = nil
	}
	if s.cfg.FsyncInterval > 0 && s.used > 0 {
		err = s.sync(s.head)
	}
	return errors.Join(err, s.head.Close(), s.cf.Close())
}

var _ Auditor = (*Spool)(nil)
