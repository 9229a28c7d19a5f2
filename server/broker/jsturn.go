package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

const (
	// jsWaitRetry is the retry interval while a clustered broker waits.
	jsWaitRetry = 250 * time.Millisecond
	// jsWaitQuiet is how long such a wait goes unlogged: peers starting.
	jsWaitQuiet = 15 * time.Second
)

// errNoMetaLeader: a clustered broker's JetStream has no meta leader yet,
// so a JetStream API request would go unanswered until it times out.
var errNoMetaLeader = fmt.Errorf("%w: no JetStream meta leader yet: every broker needs a unique identity, the same cluster, "+
	"routes to its peers (plugin.choria.network.peers) and its own plugin.choria.network.stream.store, "+
	"and a majority of the brokers listed must be up", errJSWait)

// errJSWait marks the waits of a clustered broker's start (meta leader,
// another broker creating a stream): retried sooner, and only logged
// when they last.
var errJSWait = errors.New("waiting")

// jsTurn tells whether this broker writes the named streams now: alone
// it always does. In a cluster the JetStream meta leader creates them;
// the other brokers wait until they exist and then compare them with
// their own configuration (same, when given, reports whether an existing
// stream already is as this broker would make it); only one that differs
// is updated. Several brokers writing the same replicated stream at once
// leave some requests unanswered (nats-server answers one proposal per
// stream assignment): each of those brokers waits out its timeout and
// retries, tens of seconds before the stream is ready.
func (b *Broker) jsTurn(ctx context.Context, js jetstream.JetStream, same func(*jetstream.StreamInfo) bool, streams ...string) (write bool, _ error) {
	if !b.srv.JetStreamIsClustered() || b.srv.JetStreamIsLeader() {
		return true, nil
	}
	if !b.srv.JetStreamIsCurrent() {
		return false, errNoMetaLeader
	}
	for _, name := range streams {
		s, err := js.Stream(ctx, name)
		if err != nil {
			return false, fmt.Errorf("%w for the JetStream meta leader to create stream %s: %w", errJSWait, name, err)
		}
		if same != nil && !same(s.CachedInfo()) {
			write = true
		}
	}
	return write, nil
}

// jsRetry is how long to wait before trying again after err, and whether
// err deserves a warning yet (started is when the first attempt began).
func jsRetry(err error, started time.Time) (time.Duration, bool) {
	if errors.Is(err, errJSWait) {
		return jsWaitRetry, time.Since(started) > jsWaitQuiet
	}
	return auditStreamRetry, true
}
