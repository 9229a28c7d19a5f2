package daemon

import (
	"context"
	"fmt"

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
	pub   *audit.JetStream
	spool *audit.Spool
}

// natsConn is a connector that lends its NATS connection (connector/nats).
type natsConn interface{ NATS() *nats.Conn }

// openAuditStream opens the spool, delivering over the node's own broker
// connection conn: it publishes to tutti.audit.node.<certificate name>
// and JetStream's acknowledgements arrive under the connection's private
// inbox prefix (the broker allows no other subject and no other inbox to
// this certificate). No second connection: the records go out on the
// connection the requests come in on, and wait on disk while it is down.
// A STOMP connector has no JetStream: the stream is refused.
func openAuditStream(cfg *config.Server, conn connector.Connector, p *x509.Provider, log *logrus.Entry) (*auditStream, error) {
	nc, ok := conn.(natsConn)
	if c := cfg.Connector; !ok || (c != "" && c != "nats") {
		return nil, fmt.Errorf("plugin.tutti.audit.stream needs the NATS connector (connector = %s)", cfg.Connector)
	}
	subject := cfg.Audit.Subject
	if subject == "" {
		subject = broker.NodeAuditPrefix + p.Name() // the one the broker allows
	}
	pub, err := audit.NewJetStreamOn(nc.NATS(), audit.JetStreamConfig{Subject: subject})
	if err != nil {
		return nil, fmt.Errorf("audit stream: %w", err)
	}
	spool, err := audit.NewSpool(audit.SpoolConfig{Dir: cfg.Audit.SpoolDir, MaxBytes: cfg.Audit.SpoolMaxBytes,
		FsyncInterval: cfg.Audit.SpoolFsyncDelay()},
		pub, log.WithField("component", "audit-spool"))
	if err != nil {
		_ = pub.Close()
		return nil, err
	}
	return &auditStream{pub: pub, spool: spool}, nil
}

// auditor is the spool as one of the node's auditors; closing the
// node's auditor (a reload) leaves it open.
func (s *auditStream) auditor() audit.Auditor { return keepOpen{s.spool} }

func (s *auditStream) close() {
	_ = s.spool.Close()
	_ = s.pub.Close()
}

// keepOpen is an Auditor whose Close does nothing.
type keepOpen struct{ a audit.Auditor }

func (k keepOpen) Audit(ctx context.Context, e audit.Entry) error { return k.a.Audit(ctx, e) }
func (k keepOpen) Reopen() error                                  { return k.a.Reopen() }
func (k keepOpen) Close() error                                   { return nil }

var _ audit.Auditor = keepOpen{}
