package revoke

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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
	// Timeout bounds connecting, creating the bucket and the first full
	// read of it; default 10s.
	Timeout time.Duration
}

// KVStore keeps revocations in the JetStream bucket BucketName (created
// when missing) and watches it: every instance sees every revocation,
// whichever instance (or tutti-aaa token revoke) wrote it.
type KVStore struct {
	nc   *nats.Conn
	kv   jetstream.KeyValue
	set  *Set
	log  *logrus.Entry
	w    jetstream.KeyWatcher
	done chan struct{}
}

// OpenKV connects, opens or creates the bucket and reads it completely
// before returning, so a signer starts with every revocation in force.
// The watch then keeps the set current until Close.
func OpenKV(cfg KVConfig, log *logrus.Entry) (*KVStore, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if log == nil {
		log = logrus.NewEntry(logrus.New())
	}
	opts := []nats.Option{nats.Name(cfg.Name), nats.MaxReconnects(-1), nats.Timeout(cfg.Timeout)}
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
	s, err := openKV(nc, cfg.Timeout, log)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return s, nil
}

func openKV(nc *nats.Conn, timeout time.Duration, log *logrus.Entry) (*KVStore, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("revocations: %w", err)
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
		return nil, fmt.Errorf("revocations: bucket %s: %w", BucketName, err)
	}
	w, err := kv.WatchAll(context.Background())
	if err != nil {
		return nil, fmt.Errorf("revocations: watch %s: %w", BucketName, err)
	}
	s := &KVStore{nc: nc, kv: kv, set: NewSet(), log: log, w: w, done: make(chan struct{})}
	loaded := make(chan struct{})
	go s.watch(w, loaded)
	select {
	case <-loaded:
		return s, nil
	case <-ctx.Done():
		_ = s.Close()
		return nil, fmt.Errorf("revocations: reading %s: %w", BucketName, ctx.Err())
	}
}

// watch applies the bucket's updates to the set; the nil update after
// the current values closes loaded.
func (s *KVStore) watch(w jetstream.KeyWatcher, loaded chan struct{}) {
	defer close(s.done)
	for u := range w.Updates() {
		if u == nil {
			if loaded != nil {
				close(loaded)
				loaded = nil
			}
			continue
		}
		if u.Operation() != jetstream.KeyValuePut {
			s.set.Delete(u.Key())
			continue
		}
		e, err := Parse(u.Value())
		if err == nil && e.Key() != u.Key() {
			err = fmt.Errorf("%w: value is for key %s", ErrEntry, e.Key())
		}
		if err != nil {
			s.log.WithError(err).WithField("key", u.Key()).Error("Ignoring a revocation that does not decode")
			continue
		}
		s.set.Put(e)
		s.log.WithFields(logrus.Fields{"key": u.Key(), "by": e.By, "reason": e.Reason}).Info("Token revocation in force")
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
	if _, err := s.kv.Put(ctx, e.Key(), data); err != nil {
		return fmt.Errorf("revocations: put %s: %w", e.Key(), err)
	}
	return nil
}

// List is every revocation, oldest first.
func (s *KVStore) List(context.Context) ([]Entry, error) { return s.set.List(), nil }

// Close stops the watch and the connection.
func (s *KVStore) Close() error {
	err := s.w.Stop()
	s.nc.Close() // closes the watch's updates too
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		err = errors.Join(err, errors.New("revocations: the watch did not stop"))
	}
	return err
}
