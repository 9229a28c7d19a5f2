package daemon

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/aaa/audit"
	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server/broker"
)

// auditStream is a node's spool to the broker's audit stream. It lives
// as long as the node: a reload keeps it (its settings need a restart),
// and only the audit file beside it is reopened or replaced.
type auditStream struct {
	pub   *connPub
	spool *audit.Spool
}

// natsConn is a connector that lends its NATS connection (connector/nats).
type natsConn interface{ NATS() *nats.Conn }

// openAuditStream opens the spool, before the node connects (a spool
// that cannot be opened fails the node at once); its records are
// delivered once attach gave it the connection. A STOMP connector has no
// JetStream: the stream is refused.
func openAuditStream(cfg *config.Server, log *logrus.Entry) (*auditStream, error) {
	if c := cfg.Connector; c != "" && c != "nats" {
		return nil, fmt.Errorf("plugin.tutti.audit.stream needs the NATS connector (connector = %s)", c)
	}
	pub := &connPub{}
	spool, err := audit.NewSpool(audit.SpoolConfig{Dir: cfg.Audit.SpoolDir, MaxBytes: cfg.Audit.SpoolMaxBytes,
		FsyncInterval: cfg.Audit.SpoolFsyncDelay(), Linger: cfg.Audit.SpoolLinger(), Drain: cfg.Audit.StreamDrain},
		pub, log.WithField("component", "audit-spool"))
	if err != nil {
		return nil, err
	}
	return &auditStream{pub: pub, spool: spool}, nil
}

// attach delivers the spool over the node's own broker connection conn:
// it publishes to tutti.audit.node.<certificate name> and JetStream's
// acknowledgements arrive under the connection's private inbox prefix
// (the broker allows this certificate no other subject and no other
// inbox). No second connection: the records go out on the connection
// the requests come in on, and wait on disk while it is down.
func (s *auditStream) attach(cfg *config.Server, conn connector.Connector, p *x509.Provider) error {
	nc, ok := conn.(natsConn)
	if !ok {
		return fmt.Errorf("plugin.tutti.audit.stream needs the NATS connector (connector = %s)", cfg.Connector)
	}
	subject := cfg.Audit.Subject
	if subject == "" {
		subject = broker.NodeAuditPrefix + p.Name() // the one the broker allows
	}
	js, err := audit.NewJetStreamOn(nc.NATS(), audit.JetStreamConfig{Subject: subject})
	if err != nil {
		return fmt.Errorf("audit stream: %w", err)
	}
	s.pub.js.Store(js)
	return nil
}

// connPub is the spool's publisher: the JetStream auditor over the
// node's connection once attached; until then records wait.
type connPub struct {
	js atomic.Pointer[audit.JetStream]
}

var errNotConnected = fmt.Errorf("%w: the node is not connected yet", audit.ErrUnavailable)

func (c *connPub) PublishRecord(ctx context.Context, line []byte) error {
	if js := c.js.Load(); js != nil {
		return js.PublishRecord(ctx, line)
	}
	return errNotConnected
}

func (c *connPub) PublishRecordAsync(line []byte) (<-chan error, error) {
	if js := c.js.Load(); js != nil {
		return js.PublishRecordAsync(line)
	}
	return nil, errNotConnected
}

func (c *connPub) close() {
	if js := c.js.Load(); js != nil {
		_ = js.Close()
	}
}

var _ audit.AsyncPublisher = (*connPub)(nil)

// auditor is the spool as one of the node's auditors; closing the
// node's auditor (a reload) leaves it open.
func (s *auditStream) auditor() audit.Auditor { return keepOpen{s.spool} }

func (s *auditStream) close() {
	_ = s.spool.Close()
	s.pub.close()
}

// keepOpen is an Auditor whose Close does nothing.
type keepOpen struct{ a audit.Auditor }

func (k keepOpen) Audit(ctx context.Context, e audit.Entry) error { return k.a.Audit(ctx, e) }
func (k keepOpen) Reopen() error                                  { return k.a.Reopen() }
func (k keepOpen) Close() error                                   { return nil }

var _ audit.Auditor = keepOpen{}
