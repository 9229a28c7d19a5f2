package server

import (
	"context"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/agents"
	"github.com/tuttifleet/tutti/connector/protocol"
)

// The blast-radius guard (server/guard, docs/security.md) runs in
// dispatch once the action is known to exist and before inputs are
// validated and ActionPolicy is asked: it looks only at the signed
// filter, so it is cheap and needs nothing of the action's inputs. A
// refusal is audited as a denial (policy "guard"), logged with the
// caller and answered with status Aborted and a message that says how
// to narrow or batch the request (protocol.GuardRefusedMsg), so the CLI
// can print the way out.

// refusedGuard is the tutti_node_agent_refused_total reason of a guard
// refusal.
const refusedGuard = "guard"

// guardPolicy is the audit record's policy field for a guard refusal.
const guardPolicy = "guard"

// guardDiscovery applies require_client_filter to a discovery request.
// Discovery replies carry no status, so the refusal is a drop, logged
// with the caller like every other refusal.
func (n *Node) guardDiscovery(req *protocol.Request) error {
	g := &n.cfg.Load().guard
	r := g.CheckFilter(req.Agent, &req.Filter)
	if r == nil {
		return nil
	}
	n.metrics.agentRefused(req.Agent, refusedGuard)
	return n.refuse(req, protocol.Errorf(protocol.KindGuard, "discovery request %s from %s: %s", req.ID, req.CallerID, r.Msg)).Dropped
}

// guardAction applies the guard to an RPC request for rpc.Action. It
// returns the refusal reply, or ok when the request may go on.
func (n *Node) guardAction(ctx context.Context, in *incoming, rpc *protocol.RPCRequest) (agents.Reply, bool) {
	g := &n.cfg.Load().guard
	r := g.Check(in.req.Agent, rpc.Action, &in.req.Filter)
	if r == nil {
		return agents.Reply{}, true
	}
	n.metrics.agentRefused(in.req.Agent, refusedGuard)
	n.metrics.refused(protocol.KindGuard)
	n.log.WithFields(logrus.Fields{"reason": string(protocol.KindGuard), "request": in.req.ID, "caller": in.req.CallerID,
		"sender": in.req.SenderID, "agent": in.req.Agent, "action": rpc.Action, "guard": r.Data.Guard,
		"targets": r.Data.Targets}).Warnf("request refused: %s", r.Msg)
	// the audit record of a refusal: its failure changes nothing, the
	// request is refused either way (audit logs it)
	_ = n.audit(ctx, in, rpc, false, r.Msg, guardPolicy)
	return agents.Reply{StatusCode: protocol.Aborted, StatusMsg: r.Msg, Data: r.Data}, false
}
