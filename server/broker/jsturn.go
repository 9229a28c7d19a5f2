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

// jsTurn tells whether this broker may create or update the named
// streams now. Alone it always may. In a cluster, the JetStream meta
// leader creates them; the other brokers wait until they exist and then
// update them to their own configuration, which changes nothing when the
// brokers share it. Three brokers creating the same replicated stream at
// once leave their requests unanswered (nats-server answers one proposal
// per stream assignment), each broker then waits out its timeout and
// retries: tens of seconds before the stream is ready.
func (b *Broker) jsTurn(ctx context.Context, js jetstream.JetStream, streams ...string) error {
	if !b.srv.JetStreamIsClustered() || b.srv.JetStreamIsLeader() {
		return nil
	}
	if !b.srv.JetStreamIsCurrent() {
		return errNoMetaLeader
	}
	for _, s := range streams {
		if _, err := js.Stream(ctx, s); err != nil {
			return fmt.Errorf("%w for the JetStream meta leader to create stream %s: %w", errJSWait, s, err)
		}
	}
	return nil
}

// jsRetry is how long to wait before trying again after err, and whether
// err deserves a warning yet (started is when the first attempt began).
func jsRetry(err error, started time.Time) (time.Duration, bool) {
	if errors.Is(err, errJSWait) {
		return jsWaitRetry, time.Since(started) > jsWaitQuiet
	}
	return auditStreamRetry, true
}
