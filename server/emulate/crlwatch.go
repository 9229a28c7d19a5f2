package emulate

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"

	"github.com/tuttifleet/tutti/connector/dial"
	"github.com/tuttifleet/tutti/security/revocation"
	"github.com/tuttifleet/tutti/security/x509"
)

// crlWatch is the fleet's one watch of the broker's CRL bucket.
//
// One per process, not one per node: every emulated node has its own
// provider, and each CRL the watch receives is applied to every one of
// them, each verifying the CA's signature and the CRL number itself. What
// is shared is the delivery: one connection (presenting the first node's
// certificate) and one ordered consumer on the bucket, where a real fleet
// has one per node. So the emulator measures the time from publishing to
// refusal on every node, including each node's own verification, but not
// the broker's fan-out of the bucket to a thousand consumers (one small
// message each).
type crlWatch struct {
	nc   *nats.Conn
	stop context.CancelFunc
	done chan struct{}
}

func (w *crlWatch) close() {
	if w == nil {
		return
	}
	w.stop()
	<-w.done
	w.nc.Close()
}

// startCRLWatch starts the fleet's CRL watch when the configuration asks
// for it (plugin.tutti.security.crl_watch, NATS connector).
func (f *Fleet) startCRLWatch(o Options, kp keyPair, caPEM []byte) (*crlWatch, error) {
	cfg := o.Config
	if !cfg.Security.CRLWatch || (cfg.Connector != "" && cfg.Connector != "nats") || len(f.provs) == 0 {
		return nil, nil
	}
	p, err := x509.NewFromPEM(kp.cert, kp.key, caPEM, x509.ConfigFrom(cfg.Security))
	if err != nil {
		return nil, err
	}
	tlsc, err := p.ClientTLS("")
	if err != nil {
		return nil, err
	}
	hosts := cfg.NATS.Hosts
	if len(hosts) == 0 {
		hosts = []string{dial.DefaultNATSHost}
	}
	nc, err := revocation.Dial(hosts, nats.Secure(tlsc), nats.Name(o.Prefix+" crl"),
		nats.CustomInboxPrefix(x509.InboxPrefix(p.Name())))
	if err != nil {
		return nil, err
	}
	provs := f.provs
	apply := func(crl []byte) (x509.CRLInfo, error) { return applyAll(provs, crl) }
	ctx, cancel := context.WithCancel(context.Background())
	w := &crlWatch{nc: nc, stop: cancel, done: make(chan struct{})}
	log := f.log.WithField("component", "crl-watch")
	go func() {
		defer close(w.done)
		revocation.Watch(ctx, nc, apply, log, nil)
	}()
	return w, nil
}

// applyAll applies crl to every provider, as many at once as there are
// CPUs (on a real fleet each node applies it on its own), and returns
// the first provider's result; the nodes share a CA, so one reason says
// why it was refused.
func applyAll(provs []*x509.Provider, crl []byte) (x509.CRLInfo, error) {
	errs := make([]error, len(provs))
	var first x509.CRLInfo
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(provs); i = int(next.Add(1) - 1) {
				info, err := provs[i].ApplyCRL(crl)
				if i == 0 {
					first = info
				}
				errs[i] = err
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return first, err
		}
	}
	return first, nil
}
