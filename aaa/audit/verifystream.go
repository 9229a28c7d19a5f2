package audit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// StreamSubjects are the subjects of the central audit records: the
// nodes' (tutti.audit.node.<identity>) and tutti-aaa's.
var StreamSubjects = []string{"tutti.audit.node.>", "tutti.aaa.audit.>"}

// ReadStream checks every record stored on subjects (StreamSubjects
// when nil) in the streams that capture them, from the first message to
// the last one stored when it starts, through an ordered consumer. Each
// record is named by stream name and stream sequence.
func (v *Verifier) ReadStream(ctx context.Context, js jetstream.JetStream, subjects []string) error {
	if subjects == nil {
		subjects = StreamSubjects
	}
	byStream := map[string][]string{}
	var names []string
	for _, subj := range subjects {
		name, err := js.StreamNameBySubject(ctx, subj)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("find the stream of %s: %w", subj, err)
		}
		if _, ok := byStream[name]; !ok {
			names = append(names, name)
		}
		byStream[name] = append(byStream[name], subj)
	}
	if len(names) == 0 {
		return fmt.Errorf("no stream captures %v", subjects)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := v.readOneStream(ctx, js, name, byStream[name]); err != nil {
			return err
		}
	}
	return nil
}

func (v *Verifier) readOneStream(ctx context.Context, js jetstream.JetStream, name string, subjects []string) error {
	s, err := js.Stream(ctx, name)
	if err != nil {
		return fmt.Errorf("stream %s: %w", name, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s: %w", name, err)
	}
	last := info.State.LastSeq
	if info.State.Msgs == 0 {
		return nil
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: subjects})
	if err != nil {
		return fmt.Errorf("stream %s: consumer: %w", name, err)
	}
	for {
		msg, err := c.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			return fmt.Errorf("stream %s: read: %w", name, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("stream %s: %w", name, err)
		}
		v.Line(name, int(meta.Sequence.Stream), msg.Data())
		if meta.NumPending == 0 || meta.Sequence.Stream >= last {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}
