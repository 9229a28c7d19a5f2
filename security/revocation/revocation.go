// Package revocation distributes certificate revocation lists through a
// JetStream key/value bucket (CRLBucket) that `tuttid broker` creates and
// only the admin role may write: `tutti pki revoke` and `tutti pki
// publish-crl` put a CA-signed CRL in it, and every node and broker
// watches it (Watch) and hands each CRL to its x509 provider, which
// applies it only when the configured CA signed it and it is newer than
// the one in force. There is no distribution of our own: the bucket's
// watch (an ordered consumer) delivers the latest value of each key when
// a watcher starts and every later one, and resumes after a reconnect,
// so a node that was offline gets the latest CRL when it comes back.
//
// The package also reads tutti-aaa's token revocations
// (TokenBucket) for `tutti pki revoked`.
package revocation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/security/x509"
)

// The buckets.
const (
	// CRLBucket holds one CRL per issuing CA, under CRLKey.
	CRLBucket = "TUTTI_CRL"
	// TokenBucket holds tutti-aaa's token revocations, under
	// jti.<token id> or user.<name>, as TokenRevocation JSON.
	TokenBucket = "TUTTI_TOKEN_REVOCATIONS"
	// CRLHistory is how many CRLs per CA the bucket keeps.
	CRLHistory = 5
)

// CRLKey is the key of issuer's CRL: "ca." and the first 16 bytes of the
// SHA-256 of its raw subject, in hex.
func CRLKey(rawIssuer []byte) string {
	sum := sha256.Sum256(rawIssuer)
	return "ca." + hex.EncodeToString(sum[:16])
}

// BucketConfig is the CRL bucket as the broker creates it.
func BucketConfig(replicas int) jetstream.KeyValueConfig {
	if replicas <= 0 {
		replicas = 1
	}
	return jetstream.KeyValueConfig{
		Bucket: CRLBucket, History: CRLHistory, Replicas: replicas, Storage: jetstream.FileStorage,
		Description: "tutti certificate revocation lists (owned by tuttid broker; written by the admin role)",
	}
}

// TokenBucketConfig is the token revocation bucket (TokenBucket) as the
// broker creates it beside the CRL bucket: tutti-aaa (a privileged
// certificate) reads, watches and puts entries; only the admin role may
// delete or purge it. tutti-aaa creates it the same way on a broker that
// has not.
func TokenBucketConfig(replicas int) jetstream.KeyValueConfig {
	if replicas <= 0 {
		replicas = 1
	}
	return jetstream.KeyValueConfig{
		Bucket: TokenBucket, History: 5, Replicas: replicas, Storage: jetstream.FileStorage,
		Description: "tutti-aaa token revocations (jti.<token id>, user.<name>; owned by tuttid broker)",
	}
}

// Publish verifies nothing but the form of crl (one CRL, PEM or DER) and
// puts it under its issuer's key; every watcher verifies it against its
// own CA. The connection must be an admin certificate's: no other role
// may write the bucket.
func Publish(ctx context.Context, nc *nats.Conn, crl []byte) (key string, rev uint64, err error) {
	parsed, err := x509.ParseCRL(crl)
	if err != nil {
		return "", 0, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return "", 0, err
	}
	kv, err := js.KeyValue(ctx, CRLBucket)
	if err != nil {
		return "", 0, fmt.Errorf("CRL bucket %s (created by tuttid broker with JetStream on): %w", CRLBucket, err)
	}
	key = CRLKey(parsed.RawIssuer)
	if rev, err = kv.Put(ctx, key, crl); err != nil {
		return "", 0, fmt.Errorf("put CRL into %s: %w (only an admin certificate may write it: plugin.tutti.broker.admin_certificates)", CRLBucket, err)
	}
	return key, rev, nil
}

// Applier puts a CRL in force (x509.Provider.ApplyCRL).
type Applier func(crl []byte) (x509.CRLInfo, error)

// WatchRetry is how long Watch first waits before it looks for the
// bucket again when it does not exist yet or the watch failed; the wait
// doubles up to MaxWatchRetry, so a fleet on a broker without JetStream
// does not ask for the bucket every few seconds per node.
const (
	WatchRetry    = 2 * time.Second
	MaxWatchRetry = time.Minute
)

// Watch watches the CRL bucket over nc until ctx ends, calling apply with
// every CRL it holds and every new one. A CRL that apply refuses (not
// signed by the CA, not newer) is ignored with a log line; so is one that
// it applies, at info level. A missing bucket (a broker without
// JetStream, or not created yet) is looked for again every WatchRetry.
// Watch returns when ctx ends.
//
// synced, when not nil, is closed once the CRLs the bucket held when the
// watch began have been applied, or the first attempt failed: a node
// waits for it (a bounded time) before it serves requests, so that after
// being offline it does not serve a revoked caller until its watch
// catches up.
func Watch(ctx context.Context, nc *nats.Conn, apply Applier, log *logrus.Entry, synced chan<- struct{}) {
	log = log.WithField("bucket", CRLBucket)
	var once sync.Once
	markSynced := func() {
		if synced != nil {
			once.Do(func() { close(synced) })
		}
	}
	defer markSynced()
	warned := false
	wait := WatchRetry
	for ctx.Err() == nil {
		watched, err := watchOnce(ctx, nc, apply, log, markSynced)
		markSynced()
		if ctx.Err() != nil {
			return
		}
		if watched {
			wait = WatchRetry
		}
		if err != nil && !warned {
			log.WithError(err).Warn("cannot watch the CRL bucket yet; revocations published there are not applied until it can")
			warned = true
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, MaxWatchRetry)
	}
}

// watchOnce watches until ctx ends or the watch fails; watched tells
// whether it got as far as watching.
func watchOnce(ctx context.Context, nc *nats.Conn, apply Applier, log *logrus.Entry, synced func()) (watched bool, _ error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return false, err
	}
	kv, err := js.KeyValue(ctx, CRLBucket)
	if err != nil {
		return false, fmt.Errorf("open bucket: %w", err)
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return false, fmt.Errorf("watch bucket: %w", err)
	}
	defer func() { _ = w.Stop() }()
	log.Info("watching the CRL bucket")
	for {
		select {
		case <-ctx.Done():
			return true, nil
		case e, ok := <-w.Updates():
			if !ok {
				return true, errors.New("watch ended")
			}
			if e == nil {
				synced() // the initial values are applied
				continue
			}
			if e.Operation() != jetstream.KeyValuePut {
				continue // a delete or purge: the CRL in force stays
			}
			applyEntry(e, apply, log)
		}
	}
}

func applyEntry(e jetstream.KeyValueEntry, apply Applier, log *logrus.Entry) {
	l := log.WithFields(logrus.Fields{"key": e.Key(), "revision": e.Revision()})
	info, err := apply(e.Value())
	if info.Issuer != "" {
		l = l.WithFields(logrus.Fields{"issuer": info.Issuer, "crl_number": info.Number, "this_update": info.ThisUpdate.UTC().Format(time.RFC3339)})
	}
	switch {
	case errors.Is(err, x509.ErrStaleCRL):
		l.WithError(err).Info("CRL ignored: not newer than the one in force")
	case err != nil:
		l.WithError(err).Warn("CRL ignored")
	default:
		l.WithField("revoked", info.Entries).Info("CRL applied")
	}
}

// Dial opens the connection a node's watcher uses: TLS with the node's
// certificate, its private inbox prefix (the only inbox the broker lets
// it read), reconnecting for ever, and connecting in the background when
// the broker is not up yet.
func Dial(servers []string, opts ...nats.Option) (*nats.Conn, error) {
	all := append([]nats.Option{nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true)}, opts...)
	nc, err := nats.Connect(strings.Join(servers, ","), all...)
	if err != nil {
		return nil, fmt.Errorf("CRL watch: connect to %s: %w", strings.Join(servers, ","), err)
	}
	return nc, nil
}
