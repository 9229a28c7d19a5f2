package client

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/connector/protocol"
)

// Reason says in a few words why a reply was refused: summaries count
// refused replies by it, and it is stable for scripts (--json).
type Reason string

// Why a reply is refused.
const (
	// ReasonUnsigned: no signature while signed replies are required.
	ReasonUnsigned Reason = "unsigned"
	// ReasonSignature: the signature or the hash does not match.
	ReasonSignature Reason = "bad signature"
	// ReasonCertificate: the certificate does not chain to the CA, is
	// expired, revoked or not for this use.
	ReasonCertificate Reason = "untrusted certificate"
	// ReasonName: the certificate is not the one of the node the reply
	// says it is from.
	ReasonName Reason = "certificate name mismatch"
	// ReasonSender: the transport header names another sender than the
	// signed reply.
	ReasonSender Reason = "sender mismatch"
	// ReasonMalformed: a verified reply whose body is not an RPC reply.
	ReasonMalformed Reason = "malformed"
	// ReasonUnverifiable: any other verification failure.
	ReasonUnverifiable Reason = "unverifiable"
)

// reasonOf maps a verification error to its Reason by the error's kind.
func reasonOf(err error) Reason {
	switch protocol.KindOf(err) {
	case protocol.KindSignature:
		return ReasonSignature
	case protocol.KindCertificate:
		return ReasonCertificate
	case protocol.KindCaller:
		return ReasonName
	case protocol.KindMalformed:
		return ReasonMalformed
	}
	return ReasonUnverifiable
}

// refuse marks res as refused for reason.
func refuse(res Result, reason Reason, err error) (Result, bool) {
	res.State, res.Reason, res.Err = Failed, reason, err
	return res, true
}

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
			if r.State != Failed {
				col.c.warnSkew(col.ids.first, r)
			}
			switch r.State {
			case Failed:
				sum.Failed++
				sum.Refused = append(sum.Refused, r)
				col.c.logRefused(col.ids.first, r)
			case Unsigned:
				sum.Unsigned++
				sum.UnsignedFrom = append(sum.UnsignedFrom, r.Sender)
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

// SkewWarning is how far a reply's time may be from the client's clock
// before the client warns of clock skew. Nodes refuse requests outside
// now ± ttl on their own clock, so a node this far off is a node that
// refuses short-ttl requests, or answers with misleading times.
const SkewWarning = 5 * time.Second

// warnSkew logs a clock skew warning when a reply's time (the node's
// clock when it replied, whole seconds) is more than SkewWarning from
// the client's clock when the reply arrived, compared in whole seconds.
func (c *Client) warnSkew(requestID string, r Result) {
	if r.NodeTime.IsZero() || r.Received.IsZero() {
		return
	}
	skew := r.NodeTime.Unix() - r.Received.Unix()
	limit := int64(SkewWarning / time.Second)
	if skew <= limit && skew >= -limit {
		return
	}
	dir, off := "ahead of", skew
	if skew < 0 {
		dir, off = "behind", -skew
	}
	c.o.Log.WithFields(logrus.Fields{"request": requestID, "sender": r.Sender, "skew_seconds": skew}).
		Warnf("clock skew: node %s is %ds %s this client's clock (requests with a short ttl may be refused; check NTP)",
			r.Sender, off, dir)
}

// logRefused logs one refused reply: the sender it claims, the reason
// and the error, which names the certificate when there was one.
func (c *Client) logRefused(requestID string, r Result) {
	c.o.Log.WithFields(logrus.Fields{"request": requestID, "sender": r.Sender, "reason": string(r.Reason)}).
		WithError(r.Err).Warn("reply refused")
}

// verify decodes one reply and checks it: the hash, the request id, the
// transport sender against the signed one, and the node's signature and
// certificate. ok=false means the message is not a reply to this request
// at all (undecodable or an id not among this request's ids): it is logged and
// skipped. A reply to this request that fails a check, or carries no
// signature while signed replies are required, is returned refused
// (State Failed, with its Reason).
func (c *Client) verify(ids requestIDs, data []byte) (Result, bool) {
	tr, err := protocol.DecodeTransport(data, 0)
	if err != nil {
		c.o.Log.WithError(err).Warn("undecodable reply ignored")
		return Result{}, false
	}
	sec, err := protocol.DecodeSecureReply(tr.Data)
	if err != nil {
		if protocol.KindOf(err) == protocol.KindSignature {
			return refuse(Result{Sender: tr.Sender}, ReasonSignature, err)
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
	res := Result{Sender: rep.SenderID, Body: []byte(rep.Message), NodeTime: time.Unix(rep.Time, 0)}
	if tr.Sender != "" && tr.Sender != rep.SenderID {
		return refuse(res, ReasonSender, fmt.Errorf("transport sender %q differs from the reply's senderid %q", tr.Sender, rep.SenderID))
	}
	switch {
	case len(sec.Signature) > 0:
		if err := c.o.Verifier.VerifyReply(sec.Message, sec.Signature, sec.PubCert, rep.SenderID); err != nil {
			return refuse(res, reasonOf(err), err)
		}
		res.State = Verified
	case !c.o.AcceptUnsignedReplies:
		return refuse(res, ReasonUnsigned, protocol.Errorf(protocol.KindSignature,
			"reply from %s is not signed, and signed replies are required (plugin.tutti.require_signed_replies)", rep.SenderID))
	default:
		res.State = Unsigned
	}
	if rep.Message != "pong" {
		rpc, err := protocol.DecodeRPCReply(res.Body)
		if err != nil {
			return refuse(res, ReasonMalformed, err)
		}
		res.RPC = rpc
	}
	return res, true
}
