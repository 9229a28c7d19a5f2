package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Batch controls how DoBatched rolls a request out over its targets.
type Batch struct {
	// Size is the number of nodes per batch (0: all at once).
	Size int
	// Sleep is the pause between the end of one batch and the next.
	Sleep time.Duration
	// OnBatch, when set, is called before each batch is sent, with its
	// index (from 0), the number of batches and the batch's targets.
	OnBatch func(i, n int, targets []string)
}

// BatchSummary is the merged outcome of the batches of one DoBatched.
type BatchSummary struct {
	// Summary adds up every batch: counts summed, Missing and
	// Unexpected merged and sorted, Elapsed from the first publish to the
	// end of the last wait, RequestID that of the first batch.
	Summary
	// RequestIDs holds one request id per batch sent, in order.
	RequestIDs []string
	// NotSent are targets of batches that were never sent because ctx
	// ended first.
	NotSent []string
}

// DoBatched sends req to req.Targets in batches of b.Size, each batch
// signed on its own and bound to its own nodes (one signed request per
// batch, or per chunk of a batch larger than the directed chunk), waiting for each batch's replies
// (until all of the batch replied or req.Timeout) and sleeping b.Sleep
// between batches. onReply is called as with Do. When ctx ends, the batch
// in flight ends and no further batch is sent. Without Targets, or with a
// Size of 0 or at least len(Targets), it is one Do.
func (c *Client) DoBatched(ctx context.Context, req Request, b Batch, onReply func(Result)) (*BatchSummary, error) {
	return Batched(ctx, c.Do, req, b, onReply)
}

// DoFunc sends one request and collects its replies, as Client.Do does.
type DoFunc func(ctx context.Context, req Request, onReply func(Result)) (*Summary, error)

// Batched is DoBatched over any do: clients of other protocols
// (client/mcollective) roll out in batches the same way.
func Batched(ctx context.Context, do DoFunc, req Request, b Batch, onReply func(Result)) (*BatchSummary, error) {
	if b.Size < 0 {
		return nil, fmt.Errorf("batch size %d: must be 0 (no batches) or positive", b.Size)
	}
	if len(req.Targets) == 0 && b.Size > 0 {
		return nil, errors.New("batches need a list of target nodes: broadcast requests cannot be batched")
	}
	batches := [][]string{req.Targets}
	if b.Size > 0 && b.Size < len(req.Targets) {
		batches = slices.Collect(slices.Chunk(req.Targets, b.Size))
	}
	out := &BatchSummary{}
	start := time.Now()
	for i, targets := range batches {
		if i > 0 && b.Sleep > 0 {
			t := time.NewTimer(b.Sleep)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
		if ctx.Err() != nil {
			for _, rest := range batches[i:] {
				out.NotSent = append(out.NotSent, rest...)
			}
			break
		}
		if b.OnBatch != nil {
			b.OnBatch(i, len(batches), targets)
		}
		r := req
		r.Targets = targets
		if len(targets) > 0 && (r.Expect == 0 || r.Expect > len(targets)) {
			r.Expect = len(targets)
		}
		sum, err := do(ctx, r, onReply)
		if err != nil {
			if i == 0 {
				return nil, err
			}
			for _, rest := range batches[i:] {
				out.NotSent = append(out.NotSent, rest...)
			}
			out.finish(start)
			return out, fmt.Errorf("batch %d of %d: %w", i+1, len(batches), err)
		}
		out.add(sum)
	}
	out.finish(start)
	return out, nil
}

func (s *BatchSummary) add(sum *Summary) {
	if len(s.RequestIDs) == 0 {
		s.RequestID, s.Started, s.Published = sum.RequestID, sum.Started, sum.Published
	}
	s.RequestIDs = append(s.RequestIDs, sum.RequestIDs...)
	s.Replies += sum.Replies
	s.Failed += sum.Failed
	s.Unsigned += sum.Unsigned
	s.Refused = append(s.Refused, sum.Refused...)
	s.UnsignedFrom = append(s.UnsignedFrom, sum.UnsignedFrom...)
	s.Duplicates += sum.Duplicates
	s.Missing = append(s.Missing, sum.Missing...)
	s.Unexpected = append(s.Unexpected, sum.Unexpected...)
}

func (s *BatchSummary) finish(start time.Time) {
	if s.Published.IsZero() {
		s.Published = start
	}
	s.Elapsed = time.Since(s.Published)
	slices.Sort(s.Missing)
	slices.Sort(s.Unexpected)
	s.Unexpected = slices.Compact(s.Unexpected)
	slices.Sort(s.NotSent)
}
