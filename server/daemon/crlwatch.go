package daemon

import (
	"context"
	stdx509 "crypto/x509"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/security/revocation"
	"github.com/tuttifleet/tutti/security/x509"
)

// crlWatch is a running watch of the broker's CRL bucket.
type crlWatch struct {
	nc     *nats.Conn
	own    bool // nc is the watch's own: close closes it
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
	if w.own {
		w.nc.Close()
	}
}

// startNodeCRLWatch watches the CRL bucket (plugin.tutti.security.
// crl_watch) over the node's own broker connection conn, which presents
// the node's certificate and reads only under its private inbox prefix,
// and applies every newer CRL signed by the CA with apply: a revoked
// certificate is refused within seconds, without a reload. The watch
// retries while the connection is down, so a node that was offline gets
// the latest CRL when it is back. Nil when off or with a STOMP connector
// (no JetStream).
func startNodeCRLWatch(cfg *config.Server, conn connector.Connector, log *logrus.Entry, apply revocation.Applier) (*crlWatch, error) {
	if !cfg.Security.CRLWatch {
		return nil, nil
	}
	nc, ok := conn.(natsConn)
	if c := cfg.Connector; !ok || (c != "" && c != "nats") {
		log.WithField("connector", cfg.Connector).Info("CRL bucket not watched: it needs the NATS connector; revocations come from plugin.tutti.security.crl and a reload")
		return nil, nil
	}
	return runCRLWatch(nc.NATS(), false, apply, log.WithField("component", "crl-watch"), nil), nil
}

// runCRLWatch runs revocation.Watch over nc until close (own: close
// closes nc); with a ready channel, once it is closed.
func runCRLWatch(nc *nats.Conn, own bool, apply revocation.Applier, log *logrus.Entry, ready <-chan struct{}) *crlWatch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &crlWatch{nc: nc, own: own, stop: cancel, done: make(chan struct{}), synced: make(chan struct{})}
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
	w := runCRLWatch(nc, true, apply, log, b.CRLBucketReady())
	// StartBroker's callers hold the embedded broker only: the watch ends
	// with it
	go func() {
		<-b.Done()
		w.close()
	}()
	return w, nil
}
