package broker

import (
	"context"
	"crypto/sha256"
	stdx509 "crypto/x509"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/security/revocation"
	"github.com/tuttifleet/tutti/security/x509"
)

// CRLBucket is the JetStream key/value bucket of CRLs the broker creates
// when JetStream is on (security/revocation's CRLBucket). Only the admin
// role may write it; every other role may read and watch it.
const CRLBucket = revocation.CRLBucket

// crlStream is the bucket's stream.
const crlStream = "KV_" + CRLBucket

// tokenStream is the stream of tutti-aaa's token revocation bucket.
const tokenStream = "KV_" + revocation.TokenBucket

// crlReaderPerms adds to perms what watching and reading the CRL bucket
// needs (nats.go's KeyValue WatchAll and Get): stream info, an ordered
// push consumer (create, delete, and answering its flow control), direct
// get, with the answers and deliveries under the connection's own inbox
// prefix (x509.InboxPrefix of its certificate name). Nothing that writes.
func crlReaderPerms(name string, perms *server.Permissions) *server.Permissions {
	return kvReaderPerms(crlStream, name, perms)
}

// tokenBucketPerms adds to a privileged certificate's perms what
// tutti-aaa needs of the token revocation bucket: read and watch it as
// crlReaderPerms does, and put entries ($KV.<bucket>.>, acknowledged to
// its own inbox). Deleting or purging the bucket stays the admin's.
func tokenBucketPerms(name string, perms *server.Permissions) *server.Permissions {
	perms = kvReaderPerms(tokenStream, name, perms)
	perms.Publish.Allow = append(perms.Publish.Allow, "$KV."+revocation.TokenBucket+".>")
	return perms
}

func kvReaderPerms(stream, name string, perms *server.Permissions) *server.Permissions {
	api := "$JS.API."
	perms.Publish.Allow = append(perms.Publish.Allow,
		api+"STREAM.INFO."+stream,
		api+"CONSUMER.CREATE."+stream, api+"CONSUMER.CREATE."+stream+".>",
		api+"CONSUMER.DELETE."+stream+".*",
		api+"DIRECT.GET."+stream+".>", api+"STREAM.MSG.GET."+stream,
		"$JS.FC."+stream+".>",
	)
	if inbox := x509.InboxPrefix(name) + ".>"; !slices.Contains(perms.Subscribe.Allow, inbox) {
		perms.Subscribe.Allow = append(perms.Subscribe.Allow, inbox)
	}
	return perms
}

// manageCRLBucket creates the CRL bucket over an in-process connection,
// retrying until it succeeds or the broker shuts down; crlReady is
// closed then.
func (b *Broker) manageCRLBucket() {
	l := b.cfg.Log.WithField("bucket", CRLBucket)
	started := time.Now()
	for warned := false; ; {
		err := b.putCRLBucket()
		if err == nil {
			l.Info("CRL bucket ready")
			close(b.crlReady)
			return
		}
		retry, warn := jsRetry(err, started)
		if !warned && warn {
			l.WithError(err).Warn("CRL bucket not created yet; retrying")
			warned = true
		}
		select {
		case <-b.quit:
			return
		case <-time.After(retry):
		}
	}
}

func (b *Broker) putCRLBucket() error {
	b.jsSetup.Lock()
	defer b.jsSetup.Unlock()
	nc, err := b.InternalConn()
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	replicas := revocation.BucketConfig(b.cfg.AuditStream.Replicas).Replicas
	write, err := b.jsTurn(ctx, js, func(si *jetstream.StreamInfo) bool { return si.Config.Replicas == replicas }, crlStream, tokenStream)
	if err != nil || !write {
		return err
	}
	if _, err := js.CreateOrUpdateKeyValue(ctx, revocation.BucketConfig(b.cfg.AuditStream.Replicas)); err != nil {
		return fmt.Errorf("create or update bucket %s: %w", CRLBucket, err)
	}
	if _, err := js.CreateOrUpdateKeyValue(ctx, revocation.TokenBucketConfig(b.cfg.AuditStream.Replicas)); err != nil {
		return fmt.Errorf("create or update bucket %s: %w", revocation.TokenBucket, err)
	}
	return nil
}

// CRLBucketReady is closed once the CRL bucket exists; never when
// JetStream is off.
func (b *Broker) CRLBucketReady() <-chan struct{} { return b.crlReady }

// InternalConn opens a connection to this broker in process, with every
// permission (the broker's own connection, not reachable from the
// network). The caller closes it.
func (b *Broker) InternalConn(opts ...nats.Option) (*nats.Conn, error) {
	all := append([]nats.Option{nats.InProcessServer(b.srv), nats.Token(b.internal), nats.Name(internalUser)}, opts...)
	nc, err := nats.Connect("", all...)
	if err != nil {
		return nil, fmt.Errorf("in-process connection: %w", err)
	}
	return nc, nil
}

// connChains remembers the verified certificate chain of every client
// connection, by the hex SHA-256 of its leaf (as nats-server's Connz
// reports it), so that CloseRevoked can check connections opened before a
// revocation.
type connChains struct {
	mu sync.Mutex
	m  map[string]connChain
}

type connChain struct {
	chain []*stdx509.Certificate
	added time.Time
}

func (c *connChains) add(chain []*stdx509.Certificate) {
	sum := sha256.Sum256(chain[0].Raw)
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]connChain{}
	}
	c.m[hex.EncodeToString(sum[:])] = connChain{chain: chain, added: time.Now()}
	c.mu.Unlock()
}

// CloseRevoked closes every client connection whose verified certificate
// chain check refuses (x509.Provider.CheckChain after a new CRL) and
// returns how many it closed. Each is logged with the certificate and
// the reason. Connections opened later are refused at the TLS handshake.
func (b *Broker) CloseRevoked(check func([]*stdx509.Certificate) error) int {
	listed := time.Now()
	cz, err := b.srv.Connz(&server.ConnzOptions{Username: true, Limit: 1 << 30})
	if err != nil {
		b.cfg.Log.WithError(err).Error("cannot list connections to close revoked certificates")
		return 0
	}
	type target struct {
		ci    *server.ConnInfo
		chain []*stdx509.Certificate
	}
	var targets []target
	b.chains.mu.Lock()
	open := make(map[string]bool, len(cz.Conns))
	for _, ci := range cz.Conns {
		if len(ci.TLSPeerCerts) == 0 {
			continue
		}
		open[ci.TLSPeerCerts[0].CertSha256] = true
		if ch, ok := b.chains.m[ci.TLSPeerCerts[0].CertSha256]; ok {
			targets = append(targets, target{ci, ch.chain})
		}
	}
	// forget the chains of closed connections, not those of connections
	// opened since the listing
	for k, ch := range b.chains.m {
		if !open[k] && ch.added.Before(listed) {
			delete(b.chains.m, k)
		}
	}
	b.chains.mu.Unlock()
	closed := 0
	for _, tg := range targets {
		if err := check(tg.chain); err != nil {
			b.cfg.Log.WithError(err).WithFields(logrus.Fields{"certificate": tg.ci.AuthorizedUser, "cid": tg.ci.Cid, "remote": tg.ci.IP}).
				Warn("closing the connection of a revoked certificate")
			if err := b.srv.DisconnectClientByID(tg.ci.Cid); err == nil {
				closed++
			}
		}
	}
	return closed
}
