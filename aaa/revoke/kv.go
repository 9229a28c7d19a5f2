package revoke

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/security/revocation"
)

// KVConfig is how a KVStore reaches JetStream.
type KVConfig struct {
	// Servers is a comma separated list of NATS URLs.
	Servers string
	// TLS is the client TLS for tls:// servers (mTLS with the privileged
	// certificate in tutti-aaa).
	TLS *tls.Config
	// InboxPrefix is the connection's inbox prefix; empty: nats.go's.
	InboxPrefix string
	Name        string
	// Timeout bounds how long OpenKV waits for the first full read of
	// the bucket before it serves from Cache; default 10s.
	Timeout time.Duration
	// Cache is a local file mirroring the bucket (the FileStore format),
	// rewritten at every change; read at start, so that a signer started
	// while the broker is down enforces every revocation it had seen.
	// Empty: no cache (started without the broker, nothing is revoked
	// until it is back).
	Cache string
}

// KVStore keeps revocations in the JetStream bucket BucketName (created
// when missing) and watches it: every instance sees every revocation,
// whichever instance (or tutti-aaa token revoke) wrote it. It connects
// in the background: a broker that is down delays the bucket, never the
// signer (the cache is in force meanwhile).
type KVStore struct {
	nc    *nats.Conn
	kv    atomic.Pointer[jetstream.KeyValue]
	w     atomic.Pointer[jetstream.KeyWatcher]
	set   *Set
	cache string
	log   *logrus.Entry
	stop  chan struct{}
	done  chan struct{}
}

// kvRetry is how often the bucket is looked for while it cannot be read.
const kvRetry = 2 * time.Second

// OpenKV connects, opens or creates the bucket and reads it completely
// before returning, so a signer starts with every revocation in force.
// When that takes longer than the timeout (the broker is down), it
// returns with the cached revocations and goes on trying; the watch
// then keeps the set current until Close.
func OpenKV(cfg KVConfig, log *logrus.Entry) (*KVStore, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if log == nil {
		log = logrus.NewEntry(logrus.New())
	}
	s := &KVStore{set: NewSet(), cache: cfg.Cache, log: log, stop: make(chan struct{}), done: make(chan struct{})}
	if err := s.readCache(); err != nil {
		return nil, err
	}
	opts := []nats.Option{nats.Name(cfg.Name), nats.MaxReconnects(-1), nats.Timeout(cfg.Timeout),
		nats.RetryOnFailedConnect(true), nats.ReconnectWait(time.Second)}
	if cfg.TLS != nil {
		opts = append(opts, nats.Secure(cfg.TLS))
	}
	if cfg.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(cfg.InboxPrefix))
	}
	nc, err := nats.Connect(strings.ReplaceAll(cfg.Servers, " ", ""), opts...)
	if err != nil {
		return nil, fmt.Errorf("revocations: connect to %s: %w", cfg.Servers, err)
	}
	s.nc = nc
	loaded := make(chan struct{})
	go s.run(cfg.Timeout, loaded)
	wait := cfg.Timeout
	if !nc.IsConnected() { // the broker is down: no use waiting for it
		wait = 0
	}
	select {
	case <-loaded:
	case <-time.After(wait):
		log.WithField("cache", cfg.Cache).Warnf("Token revocations: bucket %s not readable yet (broker down?); %d cached revocations in force until it is", BucketName, len(s.set.List()))
	}
	return s, nil
}

// run opens the bucket until it can, then watches it.
func (s *KVStore) run(timeout time.Duration, loaded chan struct{}) {
	defer close(s.done)
	for warned := false; ; {
		kv, w, err := openBucket(s.nc, timeout)
		if err == nil {
			s.kv.Store(&kv)
			s.w.Store(&w)
			select {
			case <-s.stop: // Close ran while the watch was being made
				_ = w.Stop()
				return
			default:
			}
			s.watch(w, loaded)
			return
		}
		if !warned {
			s.log.WithError(err).Warnf("Token revocations: cannot read bucket %s yet; retrying every %s", BucketName, kvRetry)
			warned = true
		}
		select {
		case <-s.stop:
			return
		case <-time.After(kvRetry):
		}
	}
}

func openBucket(nc *nats.Conn, timeout time.Duration) (jetstream.KeyValue, jetstream.KeyWatcher, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, nil, fmt.Errorf("revocations: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	kv, err := js.KeyValue(ctx, BucketName)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, revocation.TokenBucketConfig(1))
		if errors.Is(err, jetstream.ErrBucketExists) { // another instance was faster
			kv, err = js.KeyValue(ctx, BucketName)
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("revocations: bucket %s: %w", BucketName, err)
	}
	w, err := kv.WatchAll(context.Background())
	if err != nil {
		return nil, nil, fmt.Errorf("revocations: watch %s: %w", BucketName, err)
	}
	return kv, w, nil
}

// readCache puts the cache file's revocations in force; a missing file
// is an empty cache, one that does not decode an error.
func (s *KVStore) readCache() error {
	if s.cache == "" {
		return nil
	}
	data, err := os.ReadFile(s.cache)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("revocations cache: %w", err)
	}
	list, err := ParseFile(data)
	if err != nil {
		return fmt.Errorf("revocations cache %s: %w", s.cache, err)
	}
	s.set.Replace(list)
	return nil
}

// writeCache mirrors the set into the cache file; a failure is logged
// (the bucket stays the truth).
func (s *KVStore) writeCache() {
	if s.cache == "" {
		return
	}
	data, err := json.MarshalIndent(s.set.List(), "", "  ")
	if err == nil {
		err = writeAtomic(s.cache, append(data, '\n'))
	}
	if err != nil {
		s.log.WithError(err).Error("Token revocations: cannot write the cache file")
	}
}

// watch applies the bucket's updates to the set. Until the nil update
// that ends the current values, they are gathered apart and then replace
// the cached set (a revocation deleted while this instance was away is
// gone); loaded is closed then.
func (s *KVStore) watch(w jetstream.KeyWatcher, loaded chan struct{}) {
	fresh := NewSet()
	for u := range w.Updates() {
		if u == nil {
			if fresh != nil {
				s.set.Replace(fresh.List())
				fresh = nil
				s.writeCache()
				close(loaded)
			}
			continue
		}
		into := s.set
		if fresh != nil {
			into = fresh
		}
		if u.Operation() != jetstream.KeyValuePut {
			into.Delete(u.Key())
		} else {
			e, err := Parse(u.Value())
			if err == nil && e.Key() != u.Key() {
				err = fmt.Errorf("%w: value is for key %s", ErrEntry, e.Key())
			}
			if err != nil {
				s.log.WithError(err).WithField("key", u.Key()).Error("Ignoring a revocation that does not decode")
				continue
			}
			into.Put(e)
			s.log.WithFields(logrus.Fields{"key": u.Key(), "by": e.By, "reason": e.Reason}).Info("Token revocation in force")
		}
		if fresh == nil {
			s.writeCache()
		}
	}
}

// Revoked returns the entry revoking t, or nil.
func (s *KVStore) Revoked(t Token) *Entry { return s.set.Revoked(t) }

// Revoke writes e to the bucket; every watching instance applies it.
func (s *KVStore) Revoke(ctx context.Context, e Entry) error {
	if err := e.Validate(); err != nil {
		return err
	}
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	kv := s.kv.Load()
	if kv == nil {
		return fmt.Errorf("revocations: bucket %s not reachable yet (is the broker up?); nothing was revoked", BucketName)
	}
	if _, err := (*kv).Put(ctx, e.Key(), data); err != nil {
		return fmt.Errorf("revocations: put %s: %w", e.Key(), err)
	}
	return nil
}

// List is every revocation, oldest first.
func (s *KVStore) List(context.Context) ([]Entry, error) { return s.set.List(), nil }

// Close stops the watch and the connection.
func (s *KVStore) Close() error {
	close(s.stop)
	var err error
	if w := s.w.Load(); w != nil {
		err = (*w).Stop()
	}
	s.nc.Close() // closes the watch's updates too
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		err = errors.Join(err, errors.New("revocations: the watch did not stop"))
	}
	return err
}
