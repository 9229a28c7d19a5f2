package signer

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// AuditProtocol names the signer audit record (aaasvc's JetStream shape).
const AuditProtocol = "io.choria.signer.v1.signature_audit"

// Audit decisions (the record's action field).
const (
	DecisionAllow = "allow"
	DecisionDeny  = "deny"
)

// AuditRecord is one signing decision (docs/actionpolicy.md §4.4). The first six
// fields are aaasvc's; the rest are tutti's.
type AuditRecord struct {
	Protocol string `json:"protocol"`
	// CallerID is the token's callerid when the token verified, else the
	// request's.
	CallerID string `json:"callerid"`
	// Action is the decision: allow or deny.
	Action string `json:"action"`
	Site   string `json:"site"`
	Time   int64  `json:"time"`
	// Request is the choria:request:1: the signed one when allowed, the
	// one received when denied.
	Request   json.RawMessage `json:"request"`
	RequestID string          `json:"request_id"`
	// Reason says why a request was denied, or "bearer" for a request
	// allowed without proof of possession.
	Reason string `json:"reason,omitempty"`
	// ErrorCode is the error_code sent to the client on a denial.
	ErrorCode string `json:"error_code,omitempty"`
	// RequestedCallerID is the callerid the request carried when it
	// differed from the one signed.
	RequestedCallerID string `json:"requested_callerid,omitempty"`
}

// Auditor records signing decisions. Audit must be safe for concurrent
// use and must not keep rec after it returns.
type Auditor interface {
	Audit(ctx context.Context, rec *AuditRecord) error
	// Reopen is called on SIGHUP (log rotation).
	Reopen() error
	Close() error
}

// MultiAuditor sends each record to every auditor and joins their errors.
type MultiAuditor []Auditor

// Audit implements Auditor.
func (m MultiAuditor) Audit(ctx context.Context, rec *AuditRecord) error {
	var errs []error
	for _, a := range m {
		errs = append(errs, a.Audit(ctx, rec))
	}
	return errors.Join(errs...)
}

// Reopen implements Auditor.
func (m MultiAuditor) Reopen() error {
	var errs []error
	for _, a := range m {
		errs = append(errs, a.Reopen())
	}
	return errors.Join(errs...)
}

// Close implements Auditor.
func (m MultiAuditor) Close() error {
	var errs []error
	for _, a := range m {
		errs = append(errs, a.Close())
	}
	return errors.Join(errs...)
}

// FileAuditor appends one JSON object per line to a file it keeps open
// (W11).
//
// Writes are grouped: while one caller writes, the records of the others
// collect in a batch, which the next writer hands to the kernel in one
// write(2). Audit returns only once its own record has been written, as
// before grouping, so an answer never leaves before its audit record is
// in the file (the page cache: there is no fsync per record, a machine
// crash can lose what the kernel had not flushed, a process crash or
// kill cannot), and Close, which waits for writes in progress, loses
// nothing. Lines are whole in every write, so they never interleave.
type FileAuditor struct {
	path string
	mu   sync.Mutex
	cond sync.Cond // signalled when a batch is written
	f    *os.File
	cur  *auditBatch // records not yet handed to write(2); nil: none
	// writing is true while one caller writes a batch without mu.
	writing bool
	spare   []byte // a written batch's buffer, for reuse
}

// auditBatch is records written together.
type auditBatch struct {
	buf  []byte
	done bool
	err  error
}

// NewFileAuditor opens (creating, mode 0600) path for appending.
func NewFileAuditor(path string) (*FileAuditor, error) {
	a := &FileAuditor{path: path}
	a.cond.L = &a.mu
	if err := a.Reopen(); err != nil {
		return nil, err
	}
	return a, nil
}

// Audit implements Auditor.
func (a *FileAuditor) Audit(_ context.Context, rec *AuditRecord) error {
	line, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("audit file: encode record: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return fmt.Errorf("audit file %s: closed", a.path)
	}
	if a.cur == nil {
		a.cur = &auditBatch{buf: a.spare[:0]}
		a.spare = nil
	}
	b := a.cur
	b.buf = append(b.buf, line...)
	b.buf = append(b.buf, '\n')
	for !b.done {
		if a.writing {
			a.cond.Wait()
			continue
		}
		// No one is writing, so b is still a.cur: write it.
		a.writeLocked()
	}
	if b.err != nil {
		return fmt.Errorf("audit file %s: %w", a.path, b.err)
	}
	return nil
}

// writeLocked writes a.cur with mu released, then wakes its waiters.
// Called with mu held, a.cur set and nobody writing.
func (a *FileAuditor) writeLocked() {
	b, f := a.cur, a.f
	a.cur, a.writing = nil, true
	a.mu.Unlock()
	_, err := f.Write(b.buf)
	a.mu.Lock()
	a.writing = false
	b.done, b.err = true, err
	if cap(b.buf) <= maxPooledBuf {
		a.spare = b.buf[:0]
	}
	b.buf = nil
	a.cond.Broadcast()
}

// waitIdleLocked waits until no write is in progress and every batch is
// written. Called with mu held.
func (a *FileAuditor) waitIdleLocked() {
	for a.writing || a.cur != nil {
		if a.writing {
			a.cond.Wait()
			continue
		}
		a.writeLocked()
	}
}

// Reopen closes and reopens the file, for log rotation; records being
// written go to the old file first.
func (a *FileAuditor) Reopen() error {
	f, err := os.OpenFile(a.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("audit file: %w", err)
	}
	a.mu.Lock()
	if a.f != nil {
		a.waitIdleLocked()
	}
	old := a.f
	a.f = f
	a.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	return nil
}

// Close implements Auditor: it waits for the writes in progress, then
// closes the file.
func (a *FileAuditor) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return nil
	}
	a.waitIdleLocked()
	err := a.f.Close()
	a.f = nil
	return err
}

// JetStreamConfig is where the JetStream auditor publishes.
type JetStreamConfig struct {
	// Servers is a comma list of NATS URLs.
	Servers string
	// Subject receives the records; a stream must capture it (a publish
	// is acknowledged by JetStream, so records are stored, not just sent).
	Subject string
	// TLS, when set, is used for the connection (mTLS to a tutti broker).
	TLS *tls.Config
	// Timeout bounds one publish; default 2s.
	Timeout time.Duration
	// Name is the NATS connection name.
	Name string
	// InboxPrefix is the connection's inbox prefix (nats.go
	// CustomInboxPrefix), where JetStream's acknowledgements arrive. A
	// tutti broker lets a privileged certificate subscribe only under its
	// own, x509.InboxPrefix(certificate name); empty means nats.go's
	// _INBOX.
	InboxPrefix string
}

// JetStreamAuditor publishes each record to a JetStream subject and waits
// for the stream's acknowledgement.
type JetStreamAuditor struct {
	cfg JetStreamConfig
	nc  *nats.Conn
	js  jetstream.JetStream
}

// NewJetStreamAuditor connects to cfg.Servers. nats.go reconnects on its
// own; publishes fail (and are counted) while it is disconnected.
func NewJetStreamAuditor(cfg JetStreamConfig) (*JetStreamAuditor, error) {
	if cfg.Servers == "" || cfg.Subject == "" {
		return nil, errors.New("jetstream auditor: servers and subject are required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	opts := []nats.Option{nats.Name(cfg.Name), nats.MaxReconnects(-1)}
	if cfg.TLS != nil {
		opts = append(opts, nats.Secure(cfg.TLS))
	}
	if cfg.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(cfg.InboxPrefix))
	}
	nc, err := nats.Connect(strings.ReplaceAll(cfg.Servers, " ", ""), opts...)
	if err != nil {
		return nil, fmt.Errorf("jetstream auditor: connect to %s: %w", cfg.Servers, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream auditor: %w", err)
	}
	return &JetStreamAuditor{cfg: cfg, nc: nc, js: js}, nil
}

// Audit implements Auditor.
func (a *JetStreamAuditor) Audit(ctx context.Context, rec *AuditRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("jetstream audit: encode record: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	if _, err := a.js.Publish(ctx, a.cfg.Subject, data); err != nil {
		return fmt.Errorf("jetstream audit: publish to %s: %w", a.cfg.Subject, err)
	}
	return nil
}

// Reopen implements Auditor; the connection needs nothing.
func (a *JetStreamAuditor) Reopen() error { return nil }

// Close drains and closes the connection.
func (a *JetStreamAuditor) Close() error {
	if err := a.nc.Drain(); err != nil {
		a.nc.Close()
		return fmt.Errorf("jetstream audit: close: %w", err)
	}
	return nil
}

var (
	_ Auditor = (*FileAuditor)(nil)
	_ Auditor = (*JetStreamAuditor)(nil)
	_ Auditor = MultiAuditor(nil)
)
