package server

import (
	"errors"
	"time"

	"github.com/tuttifleet/tutti/agents"
	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/protocol"
)

// refuseRevoked answers a request signed with a revoked certificate with
// an explicit refusal (status Aborted, "certificate revoked: …") instead
// of silence, where that is safe: the verifier has established that the
// request is signed by the revoked certificate's key with a callerid
// bound to it (security.ErrRevoked is only returned then), the reply goes
// to the caller's own reply subject only (<collective>.reply.<hash of
// the callerid>.…, whatever plugin.tutti.strict_reply_to says), the
// request is within its time window, and this node is one the filter
// selects, so a revoked caller hears from the nodes it targeted and no
// one else hears anything. Otherwise the request is dropped as before.
// Either way it is logged and counted as a certificate refusal.
func (n *Node) refuseRevoked(cfg *runtimeConfig, tr *protocol.Transport, req *protocol.Request, err error) Outcome {
	out := n.refuse(req, err)
	if req == nil || tr.ReplyTo == "" {
		return out
	}
	replyTo := tr.ReplyTo
	if c, ok := n.conn.(connector.ReplyCanonicalizer); ok {
		replyTo = c.CanonicalReplyTo(replyTo)
	}
	if !validReplyTo(replyTo, req.Collective, req.CallerID) {
		return out
	}
	if checkWindow(req, n.now(), time.Unix(req.Time, 0), time.Duration(req.TTL)*time.Second) != nil {
		return out
	}
	if !n.selected(req, cfg.filterLimits) {
		return out
	}
	action := ""
	if req.Agent != protocol.DiscoveryAgent {
		if rpc, derr := protocol.DecodeRPCRequest(req.PayloadBytes()); derr == nil {
			action = rpc.Action
		}
	}
	body, berr := n.rpcReply(req, action, agents.Reply{StatusCode: protocol.Aborted,
		StatusMsg: protocol.CertificateRevokedMsg + ": " + reasonOf(err)})
	if berr != nil {
		return out
	}
	reply, berr := n.encodeReply(req, body)
	if berr != nil {
		return out
	}
	return Outcome{ReplyTo: tr.ReplyTo, Reply: reply, Request: req}
}

// reasonOf is a refusal's reason without its cause chain.
func reasonOf(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Reason != "" {
		return pe.Reason
	}
	return err.Error()
}
