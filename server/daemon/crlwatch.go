package daemon

import (
	"context"
	stdx509 "crypto/x509"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/connector/dial"
	"github.com/tuttifleet/tutti/security/revocation"
	"github.com/tuttifleet/tutti/security/x509"
)

// crlWatch is a running watch of the broker's CRL bucket.
type crlWatch struct {
	nc     *nats.Conn
	stop   context.CancelFunc
	done   chan struct{}
	synced chan struct{}
}

func (w *crlWatch) close() {
	if w == nil {
		return
	}
	w.stop()
	<-w.done
	w.nc.Close()
}

// startNodeCRLWatch watches the CRL bucket (plugin.tutti.security.
// crl_watch) over a connection of its own, presenting the node's
// certificate and reading only under its private inbox prefix, and
// applies every newer CRL signed by the CA to p: a revoked certificate
// is refused within seconds, without a reload. The connection retries in
// the background, so a node started during a broker outage, or that was
// offline, gets the latest CRL when it connects. Nil when off or with a
// STOMP connector (no JetStream).
func startNodeCRLWatch(cfg *config.Server, p *x509.Provider, log *logrus.Entry) (*crlWatch, error) {
	if !cfg.Security.CRLWatch {
		return nil, nil
	}
	if c := cfg.Connector; c != "" && c != "nats" {
		log.WithField("connector", c).Info("CRL bucket not watched: it needs the NATS connector; revocations come from plugin.tutti.security.crl and a reload")
		return nil, nil
	}
	tlsc, err := p.ClientTLS("")
	if err != nil {
		return nil, fmt.Errorf("CRL watch: %w", err)
	}
	hosts := cfg.NATS.Hosts
	if len(hosts) == 0 {
		hosts = []string{dial.DefaultNATSHost}
	}
	nc, err := revocation.Dial(hosts, nats.Secure(tlsc), nats.Name(cfg.Identity+" crl"),
		nats.CustomInboxPrefix(x509.InboxPrefix(p.Name())))
	if err != nil {
		return nil, err
	}
	return runCRLWatch(nc, p.ApplyCRL, log.WithField("component", "crl-watch"), nil), nil
}

// runCRLWatch runs revocation.Watch over nc until close; with a ready
// channel, once it is closed.
func runCRLWatch(nc *nats.Conn, apply revocation.Applier, log *logrus.Entry, ready <-chan struct{}) *crlWatch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &crlWatch{nc: nc, stop: cancel, done: make(chan struct{}), synced: make(chan struct{})}
	go func() {
		defer close(w.done)
		if ready != nil {
			select {
			case <-ready:
			case <-ctx.Done():
				close(w.synced)
				return
			}
		}
		revocation.Watch(ctx, nc, apply, log, w.synced)
	}()
	return w
}

// crlSyncWait bounds how long a node waits for the CRLs of the bucket
// before it subscribes (revocation.Watch's synced).
const crlSyncWait = 5 * time.Second

// waitSynced waits until the watch has applied the bucket's CRLs, its
// first attempt failed, or crlSyncWait passed (logged).
func (w *crlWatch) waitSynced(ctx context.Context, log *logrus.Entry) {
	if w == nil {
		return
	}
	select {
	case <-w.synced:
	case <-ctx.Done():
	case <-time.After(crlSyncWait):
		log.Warnf("the CRL bucket was not read within %v; serving requests, revocations apply when it is", crlSyncWait)
	}
}

// startBrokerCRLWatch watches the CRL bucket over the broker's own
// in-process connection when JetStream is on: each newer CRL signed by
// the CA is applied to the broker's provider (new TLS handshakes of a
// revoked certificate fail) and the connections of certificates it
// revokes are closed.
func (b *Broker) startBrokerCRLWatch() (*crlWatch, error) {
	if !b.Config.Security.CRLWatch || b.Config.StreamStore == "" {
		return nil, nil
	}
	nc, err := b.InternalConn(nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("CRL watch: %w", err)
	}
	log := b.Log.WithField("component", "crl-watch")
	apply := func(crl []byte) (x509.CRLInfo, error) {
		info, err := b.Provider.ApplyCRL(crl)
		if err == nil {
			if n := b.CloseRevoked(func(chain []*stdx509.Certificate) error { return b.Provider.CheckChain(chain) }); n > 0 {
				log.WithField("closed", n).Warn("closed the connections of revoked certificates")
			}
		}
		return info, err
	}
	// after the broker created the bucket: in a cluster a look before the
	// JetStream meta leader is elected goes unanswered, and the watch
	// would warn and back off
	w := runCRLWatch(nc, apply, log, b.CRLBucketReady())
	// StartBroker's callers hold the embedded broker only: the watch ends
	// with it
	go func() {
		<-b.Done()
		w.close()
	}()
	return w, nil
}
