package client

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/tuttifleet/tutti/connector/protocol"
)

// wait hands results to onReply until the timeout, the idle gap after the
// last reply, or the expected count ends it.
func (col *collector) wait(ctx context.Context, sum *Summary, timeout, idleGap time.Duration, expect int, onReply func(Result)) {
	defer close(col.done)
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var idle *time.Timer
	var idleC <-chan time.Time
	if idleGap > 0 {
		idle = time.NewTimer(idleGap)
		idle.Stop()
		defer idle.Stop()
	}
	seen := map[string]bool{}
	unexpected := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			col.finish(sum, seen, unexpected)
			return
		case <-deadline.C:
			col.finish(sum, seen, unexpected)
			return
		case <-idleC:
			col.finish(sum, seen, unexpected)
			return
		case r := <-col.results:
			if r.State != Failed {
				if seen[r.Sender] {
					sum.Duplicates++
					continue
				}
				seen[r.Sender] = true
				if col.targets != nil && !col.targets[r.Sender] {
					unexpected[r.Sender] = true
				}
			}
			switch r.State {
			case Failed:
				sum.Failed++
			case Unsigned:
				sum.Unsigned++
			}
			sum.Replies++
			if onReply != nil {
				onReply(r)
			}
			if expect > 0 && len(seen) >= expect {
				col.finish(sum, seen, unexpected)
				return
			}
			if idle != nil {
				idle.Reset(idleGap)
				idleC = idle.C
			}
		}
	}
}

func (col *collector) finish(sum *Summary, seen, unexpected map[string]bool) {
	for t := range col.targets {
		if !seen[t] {
			sum.Missing = append(sum.Missing, t)
		}
	}
	for u := range unexpected {
		sum.Unexpected = append(sum.Unexpected, u)
	}
	sort.Strings(sum.Missing)
	sort.Strings(sum.Unexpected)
}

// verify decodes one reply and checks it (PROTOCOL.md §6.3, §10, W6, W10).
// ok=false means the message is not a reply to this request at all
// (undecodable or an id not among ids): it is logged and skipped. A
// reply to this request that fails a check is returned with State Failed.
func (c *Client) verify(ids requestIDs, data []byte) (Result, bool) {
	tr, err := protocol.DecodeTransport(data, 0)
	if err != nil {
		c.o.Log.WithError(err).Warn("undecodable reply ignored")
		return Result{}, false
	}
	sec, err := protocol.DecodeSecureReply(tr.Data)
	if err != nil {
		if protocol.KindOf(err) == protocol.KindSignature {
			return Result{Sender: tr.Sender, State: Failed, Err: err}, true
		}
		c.o.Log.WithError(err).Warn("undecodable reply ignored")
		return Result{}, false
	}
	rep, err := protocol.DecodeReply(sec.Message)
	if err != nil {
		c.o.Log.WithError(err).Warn("undecodable reply ignored")
		return Result{}, false
	}
	if !ids.has(rep.RequestID) {
		c.o.Log.WithField("request", rep.RequestID).Debug("reply for another request ignored")
		return Result{}, false
	}
	res := Result{Sender: rep.SenderID, Body: []byte(rep.Message)}
	if tr.Sender != "" && tr.Sender != rep.SenderID {
		res.State, res.Err = Failed, fmt.Errorf("transport sender %q differs from the reply's senderid %q", tr.Sender, rep.SenderID)
		return res, true
	}
	switch {
	case len(sec.Signature) > 0:
		if err := c.o.Verifier.VerifyReply(sec.Message, sec.Signature, sec.PubCert, rep.SenderID); err != nil {
			res.State, res.Err = Failed, err
			return res, true
		}
		res.State = Verified
	case c.o.RequireSignedReplies:
		res.State, res.Err = Failed, protocol.Errorf(protocol.KindSignature, "reply from %s is not signed and signed replies are required", rep.SenderID)
		return res, true
	default:
		res.State = Unsigned
	}
	if rep.Message != "pong" {
		rpc, err := protocol.DecodeRPCReply(res.Body)
		if err != nil {
			res.State, res.Err = Failed, err
			return res, true
		}
		res.RPC = rpc
	}
	return res, true
}
