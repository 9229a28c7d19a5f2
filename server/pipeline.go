package server

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/aaa/actionpolicy"
	"github.com/tuttifleet/tutti/aaa/audit"
	"github.com/tuttifleet/tutti/agents"
	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security"
	"github.com/tuttifleet/tutti/security/replay"
	"github.com/tuttifleet/tutti/server/filter"
)

// Outcome is what the pipeline decided for one message.
type Outcome struct {
	// ReplyTo and Reply are set when a reply must be published.
	ReplyTo string
	Reply   []byte
	// Dropped explains why no reply is sent (nil when replying, and for
	// requests that asked not to be replied to).
	Dropped error
	// Filtered is true when the node is not targeted (a silent drop).
	Filtered bool
	// Request is the decoded request, when decoding got that far.
	Request *protocol.Request
}

// incoming is a request that passed decoding, verification, the time
// window, the replay cache, the collective and the filter.
type incoming struct {
	transport *protocol.Transport
	secure    *protocol.SecureRequest
	req       *protocol.Request
	caller    *security.Caller
	received  time.Time // when Process began, for the audit trace
}

// Process runs the request pipeline of docs/protocol.md §7 over one transport
// message that arrived on from (the subscription's destination: the
// broadcast subject of an agent or the node's own directed subject) and
// returns the reply to publish (or why there is none). It is safe for
// concurrent use; Handle calls it for every message.
func (n *Node) Process(ctx context.Context, from connector.Destination, msg []byte) Outcome {
	return n.process(ctx, from, n.decode(msg))
}

// process is Process over a message already decoded (the scheduler
// decodes before queueing, to know the claimed caller).
func (n *Node) process(ctx context.Context, from connector.Destination, d decoded) Outcome {
	n.stats.total.Add(1)
	received := n.now()
	in, out, ok := n.admit(from, d)
	if !ok {
		return out
	}
	in.received = received
	n.stats.passed.Add(1)
	if out, limited := n.rateLimited(n.cfg.Load(), in); limited {
		return out
	}
	body, dropped := n.dispatch(ctx, in)
	if dropped != nil || body == nil {
		return Outcome{Dropped: dropped, Request: in.req}
	}
	reply, err := n.encodeReply(in.req, body)
	if err != nil {
		n.log.WithError(err).WithField("request", in.req.ID).Error("cannot encode reply")
		return Outcome{Dropped: err, Request: in.req}
	}
	return Outcome{ReplyTo: in.transport.ReplyTo, Reply: reply, Request: in.req}
}

// admit runs steps 1–10: everything before an agent is chosen. The
// checks that need no signature (the collective, the arrival subject,
// the reply-to) come before verification, and the replay cache is
// written only after it, so an unsigned or mis-addressed copy can
// neither cost a signature check nor use up a caller's request id.
func (n *Node) admit(from connector.Destination, d decoded) (*incoming, Outcome, bool) {
	cfg := n.cfg.Load()
	tr, sr, req := d.tr, d.sr, d.req
	if d.err != nil {
		return nil, n.refuse(req, d.err), false
	}
	if err := n.checkAddress(cfg, from, tr, req); err != nil {
		return nil, n.refuse(req, err), false
	}
	if sr.Insecure {
		return nil, n.refuse(req, protocol.Errorf(protocol.KindSignature,
			"request %s from %s is unsigned (\"insecure\"), only signer services accept that", req.ID, req.CallerID)), false
	}
	caller, err := n.verifier.VerifyRequest(sr.Message, sr.Signature, sr.PubCert, req.CallerID)
	if errors.Is(err, security.ErrRevoked) {
		return nil, n.refuseRevoked(cfg, tr, req, err), false
	}
	if err != nil {
		return nil, n.refuse(req, err), false
	}
	now := n.now()
	created := time.Unix(req.Time, 0)
	ttl := time.Duration(req.TTL) * time.Second
	if err := checkWindow(req, now, created, ttl); err != nil {
		n.stats.ttlExpired.Add(1)
		n.metrics.skew(created.Sub(now), false)
		return nil, n.refuse(req, err), false
	}
	n.metrics.skew(created.Sub(now), true)
	// keyed on the verified caller and the request id, not on the signed
	// bytes: a request re-signed with a new time is the same request
	replayID := req.ID
	if d.replayID != "" {
		replayID = d.replayID
	}
	if n.replay != nil && n.replay.Seen(replay.RequestKey(caller.CallerID, replayID), created.Add(ttl+time.Second), now) {
		n.stats.replayed.Add(1)
		return nil, n.refuse(req, protocol.Errorf(protocol.KindReplay,
			"request %s from %s was already processed (replay)", req.ID, req.CallerID)), false
	}
	// cheap, counting only: nothing of the filter is compiled before it
	// is known to be within the limits
	if err := cfg.filterLimits.Check(&req.Filter); err != nil {
		return nil, n.refuse(req, protocol.Wrap(protocol.KindTooLarge, err, "request %s from %s", req.ID, req.CallerID)), false
	}
	n.stats.validated.Add(1)
	if _, known := n.agent(req.Agent); !known && req.Agent != protocol.DiscoveryAgent {
		return nil, n.refuse(req, protocol.Errorf(protocol.KindAgent, "request %s is for unknown agent %q", req.ID, req.Agent)), false
	}
	if !n.selected(req, cfg.filterLimits) {
		return nil, Outcome{Filtered: true, Request: req}, false
	}
	return &incoming{transport: tr, secure: sr, req: req, caller: caller}, Outcome{}, true
}

// checkWindow is the time window (docs/protocol.md §9.1): a request is
// valid while now − ttl < created < now + ttl. A request from the
// future says so, with how far ahead of this node's clock it is: that
// is a clock out of step (the caller's, the signer's or this node's),
// not an old request.
func checkWindow(req *protocol.Request, now, created time.Time, ttl time.Duration) error {
	if !created.Before(now.Add(ttl)) {
		return protocol.Errorf(protocol.KindTTL,
			"Message %s created at %d is from the future (clock skew?): %ds ahead of this node's clock, TTL is %d",
			req.ID, req.Time, req.Time-now.Unix(), req.TTL)
	}
	if !now.Add(-ttl).Before(created) {
		return protocol.Errorf(protocol.KindTTL,
			"Message %s created at %d is too old, TTL is %d", req.ID, req.Time, req.TTL)
	}
	return nil
}

// decoded is a message's three request layers, or why they did not
// decode (req is set when the request layer decoded, for the log).
type decoded struct {
	tr  *protocol.Transport
	sr  *protocol.SecureRequest
	req *protocol.Request
	err error
	// replayID, when set, replaces the request id in the replay key: an
	// MCollective request id is unsigned, so the signed body's hash is
	// used instead (mcollective.go).
	replayID string
}

// decode decodes msg's layers under the current message size limit.
// Nothing in them is verified yet.
func (n *Node) decode(msg []byte) decoded {
	tr, sr, req, err := decodeLayers(msg, n.cfg.Load().maxMessageSize)
	return decoded{tr: tr, sr: sr, req: req, err: err}
}

// decodeLayers decodes the three request layers; req is set when the
// request layer decoded, for the log.
func decodeLayers(msg []byte, maxSize int) (*protocol.Transport, *protocol.SecureRequest, *protocol.Request, error) {
	tr, err := protocol.DecodeTransport(msg, maxSize)
	if err != nil {
		return nil, nil, nil, err
	}
	sr, err := protocol.DecodeSecureRequest(tr.Data)
	if err != nil {
		return nil, nil, nil, err
	}
	req, err := protocol.DecodeRequest(sr.Message)
	if err != nil {
		return nil, nil, nil, err
	}
	return tr, sr, req, nil
}

// checkAddress applies the checks on where a request came from and where
// its reply goes: the collective is one of the node's, the envelope
// matches the subject it arrived on (docs/protocol.md §11), the ttl is within
// max_ttl, and with strict_reply_to the reply-to is the caller's own
// reply subject.
func (n *Node) checkAddress(cfg *runtimeConfig, from connector.Destination, tr *protocol.Transport, req *protocol.Request) error {
	if !cfg.collectives[req.Collective] {
		return protocol.Errorf(protocol.KindCollective,
			"request %s is for collective %q, this node is a member of %s", req.ID, req.Collective, strings.Join(cfg.collectiveList, ","))
	}
	if err := checkArrival(from, n.identity, req); err != nil {
		return err
	}
	if cfg.maxTTL > 0 && time.Duration(req.TTL)*time.Second > cfg.maxTTL {
		return protocol.Errorf(protocol.KindTTL,
			"request %s has ttl %ds, more than the maximum of %s", req.ID, req.TTL, cfg.maxTTL)
	}
	if cfg.strictReplyTo {
		replyTo := tr.ReplyTo
		if c, ok := n.conn.(connector.ReplyCanonicalizer); ok {
			replyTo = c.CanonicalReplyTo(replyTo)
		}
		if !validReplyTo(replyTo, req.Collective, req.CallerID) && (n.mco == nil || !mcoReplyTo(replyTo, req.Collective)) {
			return protocol.Errorf(protocol.KindReplyTo,
				"request %s reply-to %q is not the reply subject of caller %s (strict_reply_to)", req.ID, tr.ReplyTo, req.CallerID)
		}
	}
	return nil
}

// checkArrival refuses a request whose envelope does not match the
// destination it arrived on: on an agent's broadcast (or service)
// subject the envelope must name that agent and collective; on the
// node's own directed subject any agent of that collective.
func checkArrival(from connector.Destination, identity string, req *protocol.Request) error {
	switch from.Kind {
	case connector.Broadcast, connector.Service:
		if req.Agent != from.Agent || req.Collective != from.Collective {
			return protocol.Errorf(protocol.KindSubject,
				"request %s for agent %q in collective %q arrived on the %s subject of agent %q in collective %q",
				req.ID, req.Agent, req.Collective, from.Kind, from.Agent, from.Collective)
		}
	case connector.Directed:
		if from.Identity != identity || req.Collective != from.Collective {
			return protocol.Errorf(protocol.KindSubject,
				"request %s for collective %q arrived on the directed subject of %q in collective %q",
				req.ID, req.Collective, from.Identity, from.Collective)
		}
	default:
		return protocol.Errorf(protocol.KindSubject, "request %s arrived on a %s destination, not a request subject", req.ID, from.Kind)
	}
	return nil
}

// selected matches the node against the request's filter within lim. A
// filter the node does not understand (an unknown selector, an unknown
// compound function, an invalid expression) selects no node and is
// logged at warning level with the caller, like a refusal; so is one
// whose compound expressions go over lim while they are parsed (too_large).
func (n *Node) selected(req *protocol.Request, lim filter.Limits) bool {
	res, err := filter.MatchLimited(&req.Filter, n.view, lim)
	if err == nil && res.Match {
		return true
	}
	n.stats.filtered.Add(1)
	if err != nil {
		kind, what := protocol.KindFilter, "filter not understood, no node matches it"
		if errors.Is(err, filter.ErrLimit) {
			kind, what = protocol.KindTooLarge, "filter over a limit"
		}
		n.metrics.refused(kind)
		n.log.WithFields(logrus.Fields{"reason": string(kind), "request": req.ID, "caller": req.CallerID,
			"sender": req.SenderID, "agent": req.Agent}).Warnf("request refused: %s: %v", what, err)
		return false
	}
	if n.log.Logger.IsLevelEnabled(logrus.DebugLevel) {
		n.log.WithFields(logrus.Fields{"request": req.ID, "caller": req.CallerID, "why": res.Reason}).Debug("request filtered out")
	}
	return false
}

// refuse logs and counts a dropped request.
func (n *Node) refuse(req *protocol.Request, err error) Outcome {
	n.stats.unvalidated.Add(1)
	kind := protocol.KindOf(err)
	fields := logrus.Fields{"reason": string(kind)}
	if req != nil {
		fields["request"] = req.ID
		fields["caller"] = req.CallerID
		fields["sender"] = req.SenderID
		fields["agent"] = req.Agent
	}
	n.log.WithFields(fields).Warnf("request refused: %v", err)
	n.metrics.refused(kind)
	return Outcome{Dropped: err, Request: req}
}

// validReplyTo implements plugin.tutti.strict_reply_to (docs/protocol.md
// §11.2): replyTo is <collective>.reply.<hex md5 or sha256 of
// callerID>.<something>. It compares the hex in place, without building
// the expected prefixes (it runs on every request).
func validReplyTo(replyTo, collective, callerID string) bool {
	rest, ok := strings.CutPrefix(replyTo, collective)
	if !ok {
		return false
	}
	if rest, ok = strings.CutPrefix(rest, ".reply."); !ok {
		return false
	}
	dot := strings.IndexByte(rest, '.')
	if dot < 0 || dot == len(rest)-1 {
		return false
	}
	var got [sha256.Size]byte
	n, err := hex.Decode(got[:], []byte(rest[:dot]))
	if err != nil || strings.ToLower(rest[:dot]) != rest[:dot] {
		return false
	}
	switch n {
	case md5.Size:
		sum := md5.Sum([]byte(callerID))
		return subtle.ConstantTimeCompare(got[:n], sum[:]) == 1
	case sha256.Size:
		sum := sha256.Sum256([]byte(callerID))
		return subtle.ConstantTimeCompare(got[:n], sum[:]) == 1
	}
	return false
}

// dispatch runs steps 11–18 and returns the reply message text (nil when
// no reply is to be sent).
func (n *Node) dispatch(ctx context.Context, in *incoming) ([]byte, error) {
	req := in.req
	if req.Agent == protocol.DiscoveryAgent {
		if !strings.Contains(string(req.PayloadBytes()), "ping") {
			n.metrics.agentRefused(req.Agent, refusedPayload)
			return nil, n.refuse(req, protocol.Errorf(protocol.KindMalformed, "discovery request %s is not a ping", req.ID)).Dropped
		}
		if err := n.guardDiscovery(req); err != nil {
			return nil, err
		}
		return []byte("pong"), nil
	}
	agent, known := n.agent(req.Agent)
	if !known { // removed by a reload since admit checked it
		return nil, n.refuse(req, protocol.Errorf(protocol.KindAgent, "request %s is for unknown agent %q", req.ID, req.Agent)).Dropped
	}
	rpc, err := protocol.DecodeRPCRequest(req.PayloadBytes())
	if err != nil {
		n.metrics.agentRefused(req.Agent, refusedPayload)
		return n.rpcReply(req, "", agents.Reply{StatusCode: protocol.InvalidData, StatusMsg: "Could not process request: " + err.Error()})
	}
	noReply := processResultsFalse(rpc.Data)
	if rpc.Agent != req.Agent {
		n.metrics.agentRefused(req.Agent, refusedAgentMismatch)
		n.audit(ctx, in, rpc, false, fmt.Sprintf("payload agent %q does not match envelope agent %q", rpc.Agent, req.Agent), "")
		return n.rpcReplyUnless(noReply, req, rpc.Action, agents.Reply{StatusCode: protocol.Aborted, StatusMsg: protocol.NotAuthorizedMsg})
	}
	if !hasAction(agent, rpc.Action) {
		n.metrics.agentRefused(req.Agent, refusedUnknownAction)
		return n.rpcReplyUnless(noReply, req, rpc.Action, agents.Reply{StatusCode: protocol.UnknownAction,
			StatusMsg: fmt.Sprintf("Unknown action %s for agent %s", rpc.Action, req.Agent)})
	}
	if rep, ok := n.guardAction(ctx, in, rpc); !ok { // blastradius.go
		return n.rpcReplyUnless(noReply, req, rpc.Action, rep)
	}
	data, run := rpc.Data, agent.Run
	if v, ok := agent.(Validator); ok {
		var code protocol.StatusCode
		var msg string
		if data, code, msg = v.ValidateInput(rpc.Action, rpc.Data); code != protocol.OK {
			n.metrics.agentRefused(req.Agent, refusedInvalidInput)
			return n.rpcReplyUnless(noReply, req, rpc.Action, agents.Reply{StatusCode: code, StatusMsg: msg})
		}
		run = v.RunValidated
	}
	allowed, reason, policy := n.authorize(in, rpc)
	if err := n.audit(ctx, in, rpc, allowed, reason, policy); err != nil && n.cfg.Load().auditRequired {
		n.metrics.agentRefused(req.Agent, refusedAudit)
		return n.rpcReplyUnless(noReply, req, rpc.Action, agents.Reply{StatusCode: protocol.Aborted,
			StatusMsg: "Request could not be audited and auditing is required on this node"})
	}
	if !allowed {
		n.metrics.agentRefused(req.Agent, refusedDenied)
		return n.rpcReplyUnless(noReply, req, rpc.Action, agents.Reply{StatusCode: protocol.Aborted, StatusMsg: protocol.NotAuthorizedMsg})
	}
	release, busy, ok := n.acquireAgent(n.cfg.Load(), in)
	if !ok {
		n.auditOutcome(ctx, in, rpc, busy, time.Now(), 0)
		return n.rpcReplyUnless(noReply, req, rpc.Action, busy)
	}
	defer release()
	timeout := agent.Metadata().Timeout
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	started := time.Now()
	rep := run(actx, rpc.Action, &agents.Request{
		Agent: req.Agent, Action: rpc.Action, Data: data, CallerID: req.CallerID, SenderID: req.SenderID,
		RequestID: req.ID, Collective: req.Collective, Time: time.Unix(req.Time, 0), TTL: time.Duration(req.TTL) * time.Second,
	})
	took := time.Since(started)
	n.metrics.observe(req.Agent, rpc.Action, rep.StatusCode, took)
	n.auditOutcome(ctx, in, rpc, rep, started, took)
	return n.rpcReplyUnless(noReply, req, rpc.Action, rep)
}

// Validator is implemented by agents that validate inputs against a DDL
// before authorization (docs/protocol.md §7 step 15). ValidateInput returns the
// data the action is to see (the DDL's defaults filled in) or the status
// and reason to refuse with; RunValidated runs the action on that data
// without validating it again.
type Validator interface {
	ValidateInput(action string, data json.RawMessage) (json.RawMessage, protocol.StatusCode, string)
	RunValidated(ctx context.Context, action string, req *agents.Request) agents.Reply
}

func hasAction(a agents.Agent, action string) bool {
	for _, x := range a.Actions() {
		if x == action {
			return true
		}
	}
	return false
}

// processResultsFalse reports whether data has "process_results": false.
func processResultsFalse(data json.RawMessage) bool {
	if !bytes.Contains(data, []byte("process_results")) {
		return false
	}
	var d struct {
		ProcessResults *bool `json:"process_results"`
	}
	return json.Unmarshal(data, &d) == nil && d.ProcessResults != nil && !*d.ProcessResults
}

func (n *Node) rpcReplyUnless(noReply bool, req *protocol.Request, action string, rep agents.Reply) ([]byte, error) {
	if noReply {
		return nil, nil
	}
	return n.rpcReply(req, action, rep)
}

func (n *Node) rpcReply(req *protocol.Request, action string, rep agents.Reply) ([]byte, error) {
	var data json.RawMessage
	if rep.Data != nil {
		b, err := json.Marshal(rep.Data)
		if err != nil {
			rep = agents.Reply{StatusCode: protocol.UnknownError, StatusMsg: "cannot encode reply data: " + err.Error()}
		} else {
			data = b
		}
	}
	return protocol.EncodeRPCReply(&protocol.RPCReply{Action: action, StatusCode: rep.StatusCode, StatusMsg: rep.StatusMsg, Data: data})
}

// authorize applies ActionPolicy (or allows everything when
// rpcauthorization is off).
func (n *Node) authorize(in *incoming, rpc *protocol.RPCRequest) (allowed bool, reason, policy string) {
	authz := n.authorizer.Load()
	if authz == nil || *authz == nil {
		return true, "authorization disabled", ""
	}
	d := (*authz).Authorize(actionpolicy.Request{
		CallerID: in.req.CallerID, Agent: in.req.Agent, Action: rpc.Action, Facts: n.view, Classes: n.view,
	})
	if !d.Allowed {
		n.log.WithFields(logrus.Fields{"request": in.req.ID, "caller": in.req.CallerID, "agent": in.req.Agent,
			"action": rpc.Action, "policy": d.Policy, "line": d.Line}).Warnf("request denied: %s", d.Reason)
		n.metrics.denied(in.req.Agent)
	}
	return d.Allowed, d.Reason, d.Policy
}

// audit writes one record per authorization decision (docs/actionpolicy.md §4, W13).
func (n *Node) audit(ctx context.Context, in *incoming, rpc *protocol.RPCRequest, allowed bool, reason, policy string) error {
	a := n.auditor.Load()
	if a == nil || *a == nil {
		return nil
	}
	decision := "deny"
	if allowed {
		decision = "allow"
	}
	rec := &audit.Record{
		Timestamp: n.now(), RequestID: in.req.ID, RequestTime: in.req.Time, Caller: in.req.CallerID,
		Sender: in.req.SenderID, Agent: in.req.Agent, Action: rpc.Action, Data: rpc.Data, Decision: decision,
		Reason: reason, Identity: n.identity, Collective: in.req.Collective, Policy: policy,
		Received: in.received, Filter: in.req.RawFilter, // as signed; no re-encoding per request
	}
	if in.caller != nil && in.caller.Privileged {
		rec.Signer = in.caller.CertName
		rec.Approval = rpc.Approval // only a privileged signer may assert an approval
	}
	if err := (*a).Audit(ctx, rec); err != nil {
		n.log.WithError(err).WithField("request", in.req.ID).Error("AUDIT WRITE FAILED")
		n.metrics.auditError()
		return err
	}
	return nil
}

// auditOutcome writes the outcome record of an action that ran: its
// status and timing, after the decision record written before it. A
// failure is logged and counted; the action has run, the reply goes.
func (n *Node) auditOutcome(ctx context.Context, in *incoming, rpc *protocol.RPCRequest, rep agents.Reply, started time.Time, took time.Duration) {
	a := n.auditor.Load()
	if a == nil || *a == nil {
		return
	}
	rec := &audit.Record{
		Type: audit.TypeOutcome, Timestamp: n.now(), RequestID: in.req.ID, Caller: in.req.CallerID, Agent: in.req.Agent,
		Action: rpc.Action, Identity: n.identity, StatusCode: int(rep.StatusCode), StatusMsg: rep.StatusMsg,
		Started: started, Duration: took,
	}
	if in.caller != nil && in.caller.Privileged {
		rec.Signer = in.caller.CertName
	}
	if err := (*a).Audit(ctx, rec); err != nil {
		n.log.WithError(err).WithField("request", in.req.ID).Error("AUDIT WRITE FAILED (outcome)")
		n.metrics.auditError()
	}
}

// replyBufs holds scratch buffers for the reply and secure reply layers,
// which are only needed until the transport layer has base64-encoded
// them.
var replyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// encodeReply builds and signs the reply layers around body.
func (n *Node) encodeReply(req *protocol.Request, body []byte) ([]byte, error) {
	if n.mco != nil {
		return n.encodeMCOReply(req, body)
	}
	buf := replyBufs.Get().(*[]byte)
	defer replyBufs.Put(buf)
	msg, err := protocol.AppendReply((*buf)[:0], &protocol.Reply{RequestID: req.ID, SenderID: n.identity, Agent: req.Agent, Time: n.now().Unix(), Message: string(body)})
	if err != nil {
		return nil, err
	}
	sig, err := n.signer.Sign(msg)
	if err != nil {
		return nil, fmt.Errorf("sign reply: %w", err)
	}
	// the secure reply goes in the same buffer, after msg (Sign keeps no
	// reference to msg; the buffer is reused once the transport is built)
	sec, err := protocol.AppendSecureReply(msg[len(msg):], &protocol.SecureReply{Message: msg, Signature: sig, PubCert: n.signer.CertificatePEM()})
	if err != nil {
		return nil, err
	}
	return protocol.EncodeTransport(&protocol.Transport{Data: sec, Sender: n.identity})
}
