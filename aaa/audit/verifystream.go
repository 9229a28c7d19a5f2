package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ReadStream checks every record stored in the stream name (the audit
// stream: plugin.tutti.audit.stream_name), from the first message to the
// last one stored when it starts, through an ordered consumer. Each
// record is named by stream name and the stream sequence of its message
// (a message may hold several consecutive records of one writer, one a
// line).
//
// It uses only what a tutti broker grants an audit reader: the stream's
// info, and an ordered consumer of its own on it (create, pull, delete).
// It does not look streams up by subject ($JS.API.STREAM.NAMES), which
// an audit reader may not do.
func (v *Verifier) ReadStream(ctx context.Context, js jetstream.JetStream, name string) error {
	if name == "" {
		return errors.New("audit stream: no stream name")
	}
	s, err := js.Stream(ctx, name)
	if err != nil {
		return fmt.Errorf("audit stream %s: %w", name, err)
	}
	info := s.CachedInfo()
	last := info.State.LastSeq
	if info.State.Msgs == 0 {
		return nil
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return fmt.Errorf("audit stream %s: consumer: %w", name, err)
	}
	for {
		msg, err := c.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			return fmt.Errorf("audit stream %s: read: %w", name, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("audit stream %s: %w", name, err)
		}
		for _, l := range MessageLines(msg.Data()) { // a writer's batch: one record a line
			v.Line(name, int(meta.Sequence.Stream), l)
		}
		if meta.NumPending == 0 || meta.Sequence.Stream >= last {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}
