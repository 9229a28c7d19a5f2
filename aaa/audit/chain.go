package audit

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security"
)

// Chain defaults (plugin.tutti.audit.checkpoint_interval and
// plugin.tutti.audit.checkpoint_records).
const (
	DefaultCheckpointInterval = time.Minute
	DefaultCheckpointRecords  = 1000
)

// Record types of the chain's own records (the "type" field). A record
// without a type is an audit record of the writer.
const (
	TypeCheckpoint = "checkpoint"
	TypeRestart    = "restart"
)

// ChainConfig is one writer's chain.
type ChainConfig struct {
	// Writer names the chain in every record: the node's identity or
	// tutti-aaa's privileged certificate name. A checkpoint is signed by
	// a certificate of that name.
	Writer string
	// Signer signs the checkpoints; nil writes no checkpoint (every record
	// is then unprotected: verify says so).
	Signer security.Signer
	// Interval between checkpoints while records are written; 0 means
	// DefaultCheckpointInterval, negative turns the timer off.
	Interval time.Duration
	// Records writes a checkpoint after that many records; 0 means
	// DefaultCheckpointRecords, negative turns it off.
	Records int
	// TailFile is the local file the chain's records are appended to:
	// its last record of Writer continues the chain after a restart.
	TailFile string
	// StateFile holds the head at each checkpoint and at Close, for when
	// TailFile is empty (rotated) or absent; "" keeps none.
	StateFile string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Chain is an Auditor that makes a writer's records tamper-evident
// (docs/security.md, "Audit trail"). It encodes each entry once, adds
// three fields at the end of the JSON object — "writer", "seq" (1, 2, …)
// and "prev" (hex SHA-256 of the previous record's line as written,
// without its newline; "" for the first) — and hands those exact bytes to
// the auditor behind it (a File, a spool, or Multi of them). Records are
// stamped and handed on one at a time, under one lock, so the order of
// seq is the order in which every sink receives them; the price is one
// write per record instead of the File's grouped writes.
//
// A record that no sink stored does not advance the chain: the next
// record takes its seq and prev, so a failed write (a full disk, a full
// spool) leaves no gap. A record that some sinks stored and others did
// not (Multi's ErrPartlyStored) does advance it: the sink that missed it
// then shows a gap, which is the truth.
//
// Periodically (Interval, or every Records records) and at Close, the
// chain appends a checkpoint: a chained record of type "checkpoint"
// naming the head (the hash of the record before it), signed with the
// writer's key over the exact bytes of the line before its
// "signature" field, with the certificate beside it.
//
// At start the chain continues from the last record of Writer in
// TailFile or, when the file holds none (it was rotated), from
// StateFile. When StateFile is newer than the file, or was left by a
// process that did not close (the file may have been rotated after a
// crash), continuity cannot be proven: the chain starts again at seq 1
// with a "restart" record naming the previous head it knows.
type Chain struct {
	cfg  ChainConfig
	log  *logrus.Entry
	stop chan struct{}
	done chan struct{}

	mu         sync.Mutex
	next       Auditor
	seq        uint64
	head       string // hex hash of the last line; "" before the first
	sinceCheck int    // records since the last checkpoint
	closed     bool
	buf        []byte
}

// NewChain starts a chain in front of next. It reads TailFile and
// StateFile to continue the chain, and writes a restart record when it
// cannot. log may be nil.
func NewChain(cfg ChainConfig, next Auditor, log *logrus.Entry) (*Chain, error) {
	if cfg.Writer == "" {
		return nil, errors.New("audit chain: writer name is not set")
	}
	if next == nil {
		return nil, errors.New("audit chain: no auditor to write to")
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultCheckpointInterval
	}
	if cfg.Records == 0 {
		cfg.Records = DefaultCheckpointRecords
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = logrus.NewEntry(l)
	}
	c := &Chain{cfg: cfg, log: log.WithField("writer", cfg.Writer), next: next,
		stop: make(chan struct{}), done: make(chan struct{})}
	start, err := findStart(cfg)
	if err != nil {
		return nil, err
	}
	c.seq, c.head = start.seq, start.head
	if start.restart != "" {
		c.log.Warnf("Audit chain starts again at seq 1: %s", start.restart)
		if err := c.writeRestart(context.Background(), start); err != nil {
			return nil, err
		}
	}
	if cfg.Interval > 0 {
		go c.tick()
	} else {
		close(c.done)
	}
	return c, nil
}

// Audit chains e and writes it to the auditor behind.
func (c *Chain) Audit(ctx context.Context, e Entry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	body, err := e.AppendAudit(c.buf[:0])
	if err != nil {
		return fmt.Errorf("audit: encode record %s: %w", e.AuditID(), err)
	}
	seq := c.seq
	err = c.writeLocked(ctx, body, e.AuditID())
	if c.seq == seq {
		return err // stored nowhere: nothing to seal
	}
	if c.sinceCheck++; c.cfg.Records > 0 && c.sinceCheck >= c.cfg.Records {
		c.checkpointLocked(ctx)
	}
	return err
}

// writeLocked stamps body (one JSON object) and writes it. The chain
// advances only when a sink stored the record (see commitLocked).
func (c *Chain) writeLocked(ctx context.Context, body []byte, id string) error {
	line, err := c.stamp(body)
	if err != nil {
		return fmt.Errorf("audit: chain record %s: %w", id, err)
	}
	c.buf = line
	return c.commitLocked(ctx, line, id)
}

// commitLocked writes the stamped line and moves the head to it unless
// no sink stored it: a record written nowhere does not use up a seq.
func (c *Chain) commitLocked(ctx context.Context, line []byte, id string) error {
	err := c.next.Audit(ctx, rawEntry{line: line, id: id})
	if err != nil && !errors.Is(err, ErrPartlyStored) {
		return err
	}
	c.seq++
	sum := sha256.Sum256(line)
	c.head = hex.EncodeToString(sum[:])
	return err
}

// stamp inserts writer, seq (the next one) and prev before the closing
// brace of body.
func (c *Chain) stamp(body []byte) ([]byte, error) {
	n := len(body)
	for n > 0 && (body[n-1] == ' ' || body[n-1] == '\n' || body[n-1] == '\r' || body[n-1] == '\t') {
		n--
	}
	if n < 2 || body[0] != '{' || body[n-1] != '}' {
		return body, errors.New("record is not one JSON object")
	}
	tail := make([]byte, 0, 128)
	if n > 2 {
		tail = append(tail, ',')
	}
	tail = append(tail, `"writer":`...)
	tail = protocol.AppendLossyString(tail, c.cfg.Writer)
	tail = append(tail, `,"seq":`...)
	tail = strconv.AppendUint(tail, c.seq+1, 10)
	tail = append(tail, `,"prev":"`...)
	tail = append(tail, c.head...)
	tail = append(tail, `"}`...)
	return append(body[:n-1], tail...), nil
}

// Checkpoint writes a signed checkpoint now when records were written
// since the last one.
func (c *Chain) Checkpoint(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.checkpointLocked(ctx)
	}
}

// checkpointLocked writes a checkpoint when there is something to seal.
// Failures are logged: the records themselves are written.
func (c *Chain) checkpointLocked(ctx context.Context) {
	if c.sinceCheck == 0 || c.seq == 0 || c.cfg.Signer == nil {
		return
	}
	n := c.sinceCheck
	c.sinceCheck = 0
	if err := c.writeCheckpoint(ctx); err != nil {
		c.log.WithError(err).Error("Cannot write the audit checkpoint")
		if !errors.Is(err, ErrPartlyStored) {
			c.sinceCheck = n // written nowhere: the records still wait for one
		}
		return
	}
	c.saveState(false)
}

func (c *Chain) writeCheckpoint(ctx context.Context) error {
	body := append(c.buf[:0], `{"type":"checkpoint","time":`...)
	body = protocol.AppendLossyString(body, c.cfg.Now().UTC().Format(time.RFC3339Nano))
	body = append(body, `,"head_seq":`...)
	body = strconv.AppendUint(body, c.seq, 10)
	body = append(body, `,"head":"`...)
	body = append(body, c.head...)
	body = append(body, `"}`...)
	line, err := c.stamp(body)
	if err != nil {
		return err
	}
	signed := line[:len(line)-1]
	sig, err := c.cfg.Signer.Sign(signed)
	if err != nil {
		return fmt.Errorf("sign checkpoint: %w", err)
	}
	line = append(signed, `,"signature":"`...)
	line = base64.StdEncoding.AppendEncode(line, sig)
	line = append(line, `","certificate":`...)
	line = protocol.AppendLossyString(line, string(c.cfg.Signer.CertificatePEM()))
	line = append(line, '}')
	c.buf = line
	return c.commitLocked(ctx, line, "checkpoint-"+strconv.FormatUint(c.seq+1, 10))
}

// writeRestart writes the first record of a new chain naming the
// previous head it knows.
func (c *Chain) writeRestart(ctx context.Context, s chainStart) error {
	body := append([]byte(nil), `{"type":"restart","time":`...)
	body = protocol.AppendLossyString(body, c.cfg.Now().UTC().Format(time.RFC3339Nano))
	body = append(body, `,"reason":`...)
	body = protocol.AppendLossyString(body, s.restart)
	if s.prevSeq > 0 {
		body = append(body, `,"previous_seq":`...)
		body = strconv.AppendUint(body, s.prevSeq, 10)
		body = append(body, `,"previous_head":"`...)
		body = append(body, s.prevHead...)
		body = append(body, '"')
	}
	body = append(body, '}')
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.writeLocked(ctx, body, "restart"); err != nil {
		return fmt.Errorf("audit chain: write restart record: %w", err)
	}
	c.sinceCheck++
	return nil
}

func (c *Chain) tick() {
	defer close(c.done)
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Interval)
			c.Checkpoint(ctx)
			cancel()
		}
	}
}

// Head returns the last sequence number and the hash of the last line.
func (c *Chain) Head() (seq uint64, head string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seq, c.head
}

// Swap puts next behind the chain (a reload that changes the audit
// outputs) and returns the auditor it replaces, for the caller to close.
// The chain goes on: the next record follows the last one.
func (c *Chain) Swap(next Auditor) Auditor {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.next
	c.next = next
	return old
}

// Reopen reopens the outputs behind the chain.
func (c *Chain) Reopen() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	return c.next.Reopen()
}

// Close writes a last checkpoint, saves the head to StateFile and
// closes the auditor behind. It is idempotent.
func (c *Chain) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	close(c.stop)
	c.mu.Unlock()
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.checkpointLocked(ctx)
	c.closed = true
	c.saveState(true)
	return c.next.Close()
}

// rawEntry is a chained line handed to the sinks as it is.
type rawEntry struct {
	line []byte
	id   string
}

func (r rawEntry) AppendAudit(b []byte) ([]byte, error) { return append(b, r.line...), nil }
func (rawEntry) preEncoded()                            {}
func (r rawEntry) AuditID() string                      { return r.id }

var _ Auditor = (*Chain)(nil)
