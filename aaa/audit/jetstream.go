package audit

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultJetStreamTimeout bounds one publish when JetStreamConfig.Timeout
// is not set.
const DefaultJetStreamTimeout = 2 * time.Second

// JetStreamConfig is where the JetStream auditor publishes.
type JetStreamConfig struct {
	// Servers is a comma list of NATS URLs.
	Servers string
	// Subject receives the records; a stream must capture it (a publish
	// is acknowledged by JetStream, so records are stored, not just sent).
	Subject string
	// TLS, when set, is used for the connection (mTLS to a tutti broker).
	TLS *tls.Config
	// Timeout bounds one publish; default DefaultJetStreamTimeout.
	Timeout time.Duration
	// Name is the NATS connection name.
	Name string
	// InboxPrefix is the connection's inbox prefix (nats.go
	// CustomInboxPrefix), where JetStream's acknowledgements arrive. A
	// tutti broker lets a privileged certificate subscribe only under its
	// own, x509.InboxPrefix(certificate name), so without it no
	// acknowledgement arrives and every record fails; empty means
	// nats.go's _INBOX.
	InboxPrefix string
	// RetryConnect lets NewJetStream return while the servers are
	// unreachable, connecting in the background (a spooled auditor
	// starts during a broker outage; its records wait on disk).
	RetryConnect bool
}

// JetStream is an Auditor publishing each record to a JetStream subject
// and waiting for the stream's acknowledgement.
type JetStream struct {
	cfg JetStreamConfig
	nc  *nats.Conn
	js  jetstream.JetStream

	owned  bool        // nc is the auditor's own: Close drains it
	closed atomic.Bool // Close ran (nc may be shared and stay open)

	amu       sync.Mutex
	inflight  int    // PublishRecordAsync results not yet known
	epoch     uint64 // nc's reconnect count when they were sent
	ackSub    *nats.Subscription
	ackPrefix string // reply subjects: ackPrefix + record number
	next      uint64 // the last record number
	pending   map[uint64]*pendingAck
}

// NewJetStream connects to cfg.Servers. nats.go reconnects on its own;
// publishes fail with ErrUnavailable while it is disconnected.
func NewJetStream(cfg JetStreamConfig) (*JetStream, error) {
	if cfg.Servers == "" || cfg.Subject == "" {
		return nil, errors.New("jetstream auditor: servers and subject are required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultJetStreamTimeout
	}
	opts := []nats.Option{nats.Name(cfg.Name), nats.MaxReconnects(-1)}
	if cfg.TLS != nil {
		opts = append(opts, nats.Secure(cfg.TLS))
	}
	if cfg.RetryConnect {
		opts = append(opts, nats.RetryOnFailedConnect(true))
	}
	if cfg.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(cfg.InboxPrefix))
	}
	nc, err := nats.Connect(strings.ReplaceAll(cfg.Servers, " ", ""), opts...)
	if err != nil {
		return nil, fmt.Errorf("jetstream auditor: connect to %s: %w", cfg.Servers, err)
	}
	a, err := NewJetStreamOn(nc, cfg)
	if err != nil {
		nc.Close()
		return nil, err
	}
	a.owned = true
	return a, nil
}

// NewJetStreamOn is a JetStream auditor publishing over nc, a connection
// it shares and does not own (a node's main broker connection: one TLS
// connection per node instead of two). cfg.Subject and cfg.Timeout apply;
// the connection options (Servers, TLS, Name, InboxPrefix, RetryConnect)
// are nc's own: its inbox prefix must be one the broker lets it read.
// Close stops publishing and leaves nc open. While nc is disconnected,
// or reconnected with records in flight, publishes fail as with
// NewJetStream, so the spool keeps the records in order.
func NewJetStreamOn(nc *nats.Conn, cfg JetStreamConfig) (*JetStream, error) {
	if nc == nil || cfg.Subject == "" {
		return nil, errors.New("jetstream auditor: a connection and a subject are required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultJetStreamTimeout
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream auditor: %w", err)
	}
	return &JetStream{cfg: cfg, nc: nc, js: js}, nil
}

// usable reports whether the auditor may publish.
func (a *JetStream) usable() bool {
	return !a.closed.Load() && !a.nc.IsClosed() && !a.nc.IsDraining()
}

// Audit encodes e and publishes it, waiting at most cfg.Timeout (and
// ctx) for the acknowledgement. A failed publish matches ErrUnavailable.
func (a *JetStream) Audit(ctx context.Context, e Entry) error {
	if !a.usable() {
		return ErrClosed
	}
	data, err := e.AppendAudit(nil)
	if err != nil {
		return fmt.Errorf("jetstream audit: encode record %s: %w", e.AuditID(), err)
	}
	if err := a.publish(ctx, data); err != nil {
		return fmt.Errorf("jetstream audit: record %s: %w", e.AuditID(), err)
	}
	return nil
}

// PublishRecord implements Publisher: it sends one encoded record line
// with Nats-Msg-Id set to the hex SHA-256 of the line, so the stream
// stores a line sent again (a spool's retry, a restart) once within its
// duplicate window, and waits at most cfg.Timeout (and ctx) for the
// acknowledgement. Two records are never byte-identical (each carries
// its timestamp and request id, and a chained one its sequence).
func (a *JetStream) PublishRecord(ctx context.Context, line []byte) error {
	if !a.usable() {
		return ErrClosed
	}
	sum := sha256.Sum256(line)
	return a.publish(ctx, line, jetstream.WithMsgID(hex.EncodeToString(sum[:])))
}

// PublishRecordAsync implements AsyncPublisher: PublishRecord without
// waiting. The result arrives on the channel within cfg.Timeout (a
// record the stream did not answer is not retried: see publishAsync).
//
// Records in flight keep their order because they go out on one
// connection, which the stream reads in order: what a lost connection
// loses is a tail of them. So a record is sent only on the connection
// that carries every record still in flight: while disconnected (not
// into nats.go's reconnect buffer, which would send it ahead of the lost
// ones after the reconnect) and after a reconnect until the records sent
// before it are settled, it is refused with ErrUnavailable, and the
// spool sends it again after the lost ones.
func (a *JetStream) PublishRecordAsync(line []byte) (<-chan error, error) {
	if !a.usable() {
		return nil, ErrClosed
	}
	a.amu.Lock()
	defer a.amu.Unlock()
	epoch := a.nc.Stats().Reconnects
	switch {
	case !a.nc.IsConnected():
		return nil, fmt.Errorf("%w: publish to %s: not connected", ErrUnavailable, a.cfg.Subject)
	case a.inflight > 0 && epoch != a.epoch:
		return nil, fmt.Errorf("%w: publish to %s: reconnected while records were in flight", ErrUnavailable, a.cfg.Subject)
	}
	sum := sha256.Sum256(line)
	res, err := a.publishAsync(line, hex.EncodeToString(sum[:]))
	if err != nil {
		return nil, fmt.Errorf("%w: publish to %s: %w", ErrUnavailable, a.cfg.Subject, err)
	}
	a.epoch = epoch
	return res, nil
}

// publish sends one encoded record and waits for its acknowledgement.
func (a *JetStream) publish(ctx context.Context, data []byte, opts ...jetstream.PublishOpt) error {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	if _, err := a.js.Publish(ctx, a.cfg.Subject, data, opts...); err != nil {
		return fmt.Errorf("%w: publish to %s: %w", ErrUnavailable, a.cfg.Subject, err)
	}
	return nil
}

// Reopen implements Auditor; the connection needs nothing.
func (a *JetStream) Reopen() error { return nil }

// Close drains and closes the connection when it is the auditor's own;
// a shared one (NewJetStreamOn) stays open for its owner.
func (a *JetStream) Close() error {
	if a.closed.Swap(true) {
		return nil
	}
	a.closeAcks()
	if !a.owned {
		return nil
	}
	if err := a.nc.Drain(); err != nil {
		a.nc.Close()
		return fmt.Errorf("jetstream audit: close: %w", err)
	}
	return nil
}

var _ AsyncPublisher = (*JetStream)(nil)
