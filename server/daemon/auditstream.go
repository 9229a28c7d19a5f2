package daemon

import (
	"context"
	"fmt"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/aaa/audit"
	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/connector/dial"
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

// openAuditStream connects to the node's brokers with the node's
// certificate and private inbox prefix (where JetStream's
// acknowledgements arrive; the broker allows no other) and opens the
// spool. The connection retries in the background: a node starts during
// a broker outage and its records wait on disk.
func openAuditStream(cfg *config.Server, p *x509.Provider, log *logrus.Entry) (*auditStream, error) {
	if c := cfg.Connector; c != "" && c != "nats" {
		return nil, fmt.Errorf("plugin.tutti.audit.stream needs the NATS connector (connector = %s)", c)
	}
	tlsc, err := p.ClientTLS("")
	if err != nil {
		return nil, fmt.Errorf("audit stream: %w", err)
	}
	hosts := cfg.NATS.Hosts
	if len(hosts) == 0 {
		hosts = []string{dial.DefaultNATSHost}
	}
	subject := cfg.Audit.Subject
	if subject == "" {
		subject = broker.NodeAuditPrefix + p.Name() // the one the broker allows
	}
	pub, err := audit.NewJetStream(audit.JetStreamConfig{
		Servers: strings.Join(hosts, ","), Subject: subject, TLS: tlsc, Name: cfg.Identity + " audit",
		InboxPrefix: x509.InboxPrefix(p.Name()), RetryConnect: true,
	})
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
