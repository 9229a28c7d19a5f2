package emulate

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/aaa/audit"
	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/dial"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server/broker"
)

// AuditStream is the --audit value that sends every node's records to
// the configuration's audit file and to the broker's audit stream, as
// plugin.tutti.audit.stream = true does.
const AuditStream = "stream"

// streamed tells whether the nodes send their records to the stream.
func (o *Options) streamed() bool {
	return o.Audit == AuditStream || (o.Audit == "" && o.Config.Audit.Enabled && o.Config.Audit.Stream)
}

// spoolRoot is where the nodes' spools go: each in <root>/<identity>,
// root being plugin.tutti.audit.spool_dir (default <logfile>.spool).
func (o *Options) spoolRoot() string {
	if d := o.Config.Audit.SpoolDir; d != "" {
		return d
	}
	return o.Config.Audit.LogFile + ".spool"
}

// nodeStream is one node's way to the broker's audit stream, built as
// tuttid builds it (server/daemon/auditstream.go): its own spool
// directory with its own group-commit fsync and delivery goroutine,
// publishing to tutti.audit.node.<certificate name> over the node's own
// broker connection, the acknowledgements arriving under the node's
// private inbox prefix. With --shared-conn the nodes share one
// connection presenting one certificate, which may publish only its own
// records: each node then opens a JetStream connection of its own for
// them, presenting its certificate (a fleet that does not exist either
// way; tuttid has one connection per node).
type nodeStream struct {
	pub   *audit.JetStream
	spool *audit.Spool
}

// openNodeStream opens node name's spool (under o.spoolRoot()) and its
// publisher: over own, the node's connection, or a connection of its own
// when own is nil (--shared-conn).
func openNodeStream(o Options, p *x509.Provider, own connector.Connector, name string, log *logrus.Entry) (*nodeStream, error) {
	subject := broker.NodeAuditPrefix + p.Name()
	var pub *audit.JetStream
	var err error
	if nc, ok := own.(interface{ NATS() *nats.Conn }); ok {
		pub, err = audit.NewJetStreamOn(nc.NATS(), audit.JetStreamConfig{Subject: subject})
	} else {
		pub, err = ownStreamConn(o, p, subject, name)
	}
	if err != nil {
		return nil, fmt.Errorf("audit stream: %w", err)
	}
	spool, err := audit.NewSpool(audit.SpoolConfig{Dir: filepath.Join(o.spoolRoot(), name), MaxBytes: o.Config.Audit.SpoolMaxBytes,
		FsyncInterval: o.Config.Audit.SpoolFsyncDelay(), Linger: o.Config.Audit.SpoolLinger(), Drain: o.Config.Audit.StreamDrain},
		pub, log.WithField("component", "audit-spool"))
	if err != nil {
		_ = pub.Close()
		return nil, err
	}
	return &nodeStream{pub: pub, spool: spool}, nil
}

// ownStreamConn is a JetStream publisher on a connection of its own
// presenting p's certificate (--shared-conn).
func ownStreamConn(o Options, p *x509.Provider, subject, name string) (*audit.JetStream, error) {
	tlsc, err := p.ClientTLS("")
	if err != nil {
		return nil, err
	}
	hosts := o.Config.NATS.Hosts
	if len(hosts) == 0 {
		hosts = []string{dial.DefaultNATSHost}
	}
	return audit.NewJetStream(audit.JetStreamConfig{
		Servers: strings.Join(hosts, ","), Subject: subject, TLS: tlsc, Name: name + " audit",
		InboxPrefix: x509.InboxPrefix(p.Name()), RetryConnect: true,
	})
}

// AuditSpool adds up the nodes' spool counters.
type AuditSpool struct {
	Spooled       uint64 `json:"spooled"`
	Delivered     uint64 `json:"delivered"`
	PendingBytes  int64  `json:"pending_bytes"`
	Refused       uint64 `json:"refused"`
	WriteErrors   uint64 `json:"write_errors"`
	PublishErrors uint64 `json:"publish_errors"`
}

// AuditSpool returns the sum of the nodes' spool counters; nil when
// the nodes do not send to the stream.
func (f *Fleet) AuditSpool() *AuditSpool {
	if len(f.streams) == 0 {
		return nil
	}
	var t AuditSpool
	for _, s := range f.streams {
		st := s.spool.Stats()
		t.Spooled += st.Spooled
		t.Delivered += st.Delivered
		t.PendingBytes += st.PendingBytes
		t.Refused += st.Refused
		t.WriteErrors += st.WriteErrors
		t.PublishErrors += st.PublishErrors
	}
	return &t
}

// closeStreams waits (until ctx ends) for the spools to deliver what
// they hold, then closes them and their connections. What is left
// undelivered stays on disk for the next fleet on the same spool
// directory.
func (f *Fleet) closeStreams(ctx context.Context) {
	for ctx.Err() == nil {
		if s := f.AuditSpool(); s == nil || s.PendingBytes == 0 {
			break
		}
		if !sleepCtx(ctx, 50*time.Millisecond) {
			break
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 256)
	for _, s := range f.streams {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			_ = s.spool.Close()
			_ = s.pub.Close()
		}()
	}
	wg.Wait()
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
