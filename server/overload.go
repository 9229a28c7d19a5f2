package server

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/agents"
	"github.com/tuttifleet/tutti/connector/protocol"
)

// Refusals for load: a verified request the node will not run now gets
// a signed reply with status 1 (Aborted) and a statusmsg that starts
// with protocol.BusyMsgPrefix or protocol.RateLimitedMsgPrefix, sent to
// its own reply subject like any other reply (strict_reply_to holds:
// the request went through admit, so its reply-to was checked). Clients
// render status 1 as a failure with its message; tutti rpc counts these
// apart and hints to retry or batch.
//
// Three limits lead to such a reply:
//
//   - queue_full: the request queue (pool.go) had no room. The message
//     goes to the refusal lane: at most refusalLaneSize messages, run by
//     one goroutine through admit (verify, time window, replay, filter)
//     and answered "node busy". A message the lane has no room for is
//     dropped unanswered, so a flood of unverifiable messages costs at
//     most one goroutine's worth of signature checks and a bounded
//     amount of memory.
//   - agent_concurrency: the agent already runs its cap of requests
//     (plugin.tutti.agent.<agent>.concurrency; external agents default
//     to half the workers). Refused after authorization and the audit
//     decision record, with an outcome record of the refusal.
//   - rate_limited: the verified caller went over its token bucket
//     (plugin.tutti.rate_limit, plugin.tutti.rate_burst; off by default).
//
// Discovery pings have no status to carry a refusal: they are dropped
// and counted.
const (
	BusyMsgPrefix        = protocol.BusyMsgPrefix
	RateLimitedMsgPrefix = protocol.RateLimitedMsgPrefix
)

// loadReason labels tutti_node_load_refused_total.
type loadReason string

const (
	loadQueueFull   loadReason = "queue_full"
	loadAgentCap    loadReason = "agent_concurrency"
	loadRateLimited loadReason = "rate_limited"
)

// refusalLaneSize bounds the messages waiting to be verified and told
// "node busy" once the queue is full.
const refusalLaneSize = 64

// refusalLane holds the messages the full queue turned away, for the
// one goroutine that answers them. Guarded by scheduler.mu.
type refusalLane struct {
	jobs    []job
	running bool
}

// laneJob gives j to the refusal lane and reports whether a goroutine
// must be started for it; false with ok false when the lane is full.
// s.mu must be held.
func (s *scheduler) laneJob(j job) (start, ok bool) {
	if len(s.lane.jobs) >= refusalLaneSize {
		return false, false
	}
	s.lane.jobs = append(s.lane.jobs, j)
	if s.lane.running {
		return false, true
	}
	s.lane.running = true
	return true, true
}

// refuseBusy answers the refusal lane until it is empty.
func (n *Node) refuseBusy() {
	s := &n.sched
	for {
		s.mu.Lock()
		if len(s.lane.jobs) == 0 {
			s.lane.running = false
			s.lane.jobs = nil
			s.mu.Unlock()
			return
		}
		j := s.lane.jobs[0]
		s.lane.jobs[0] = job{}
		s.lane.jobs = s.lane.jobs[1:]
		s.mu.Unlock()
		n.answerBusy(j)
		n.inflight.Done()
	}
}

// answerBusy verifies j like any request and, if it would have been
// run, replies "node busy".
func (n *Node) answerBusy(j job) {
	in, _, ok := n.admit(j.from, j.msg)
	if !ok {
		return
	}
	_, queue := n.cfg.Load().poolLimits()
	msg := fmt.Sprintf("%s: %s has %d requests queued, retry later or send fewer at once (--batch)", BusyMsgPrefix, n.identity, queue)
	n.publish(n.requests, n.refuseLoad(in, loadQueueFull, msg))
}

// errLoad is the Outcome.Dropped of a request refused for load.
var errLoad = errors.New("refused for load")

// rateLimited applies the caller's token bucket to in, which passed
// admit (its caller is verified). The rates are tracked only when the
// limit is on or metrics are.
func (n *Node) rateLimited(rc *runtimeConfig, in *incoming) (Outcome, bool) {
	if rc.rateLimit <= 0 && !n.metrics.on {
		return Outcome{}, false
	}
	caller := in.req.CallerID
	if in.caller != nil {
		caller = in.caller.CallerID
	}
	if n.rates.allow(caller, n.now(), rc.rateLimit, rc.rateBurst) {
		return Outcome{}, false
	}
	msg := fmt.Sprintf("%s: caller %s is over %g requests/s on %s (plugin.tutti.rate_limit), retry later",
		RateLimitedMsgPrefix, caller, rc.rateLimit, n.identity)
	return n.refuseLoad(in, loadRateLimited, msg), true
}

// refuseLoad logs and counts a verified request refused for load and
// returns its reply: status 1 (Aborted) with msg, none for a discovery
// ping or a request with process_results false. in passed admit: its
// caller is verified and its reply-to checked.
func (n *Node) refuseLoad(in *incoming, reason loadReason, msg string) Outcome {
	req := in.req
	n.metrics.loadRefused(reason)
	n.logLoad(reason, req, msg)
	dropped := fmt.Errorf("%w: %s", errLoad, msg)
	if req.Agent == protocol.DiscoveryAgent {
		return Outcome{Dropped: dropped, Request: req}
	}
	rpc, err := protocol.DecodeRPCRequest(req.PayloadBytes())
	if err != nil || processResultsFalse(rpc.Data) {
		return Outcome{Dropped: dropped, Request: req}
	}
	body, err := n.rpcReply(req, rpc.Action, agents.Reply{StatusCode: protocol.Aborted, StatusMsg: msg})
	if err != nil {
		return Outcome{Dropped: err, Request: req}
	}
	reply, err := n.encodeReply(req, body)
	if err != nil {
		n.log.WithError(err).WithField("request", req.ID).Error("cannot encode reply")
		return Outcome{Dropped: err, Request: req}
	}
	return Outcome{ReplyTo: in.transport.ReplyTo, Reply: reply, Request: req}
}

// loadLogEvery is how often each load refusal reason is logged during
// a flood: the first refusal, then one line per period with the count.
const loadLogEvery = 10 * time.Second

// loadLog rate-limits the log lines of load refusals, per reason.
type loadLog struct {
	mu      sync.Mutex
	last    map[loadReason]time.Time
	pending map[loadReason]int
}

func (n *Node) logLoad(reason loadReason, req *protocol.Request, msg string) {
	l := &n.loadLog
	now := n.now()
	l.mu.Lock()
	if l.last == nil {
		l.last, l.pending = map[loadReason]time.Time{}, map[loadReason]int{}
	}
	l.pending[reason]++
	count := l.pending[reason]
	if now.Sub(l.last[reason]) < loadLogEvery {
		l.mu.Unlock()
		return
	}
	l.last[reason], l.pending[reason] = now, 0
	l.mu.Unlock()
	n.log.WithFields(logrus.Fields{"reason": string(reason), "request": req.ID, "caller": req.CallerID,
		"sender": req.SenderID, "agent": req.Agent, "refused": count}).
		Warnf("request refused: %s (this caller's request is the latest of %d refused for %s; logged at most every %s)",
			msg, count, reason, loadLogEvery)
}

// agentSlots counts the requests each agent runs, for the concurrency
// caps. Counters are made on first use and never removed: their number
// is bounded by the agents ever loaded.
type agentSlots struct{ m sync.Map } // agent name → *atomic.Int64

// acquire takes one of agent's limit slots (limit <= 0: no cap). It
// reports the running count when refused.
func (a *agentSlots) acquire(agent string, limit int) (release func(), ok bool) {
	if limit <= 0 {
		return func() {}, true
	}
	v, found := a.m.Load(agent)
	if !found {
		v, _ = a.m.LoadOrStore(agent, new(atomic.Int64))
	}
	c := v.(*atomic.Int64)
	if c.Add(1) > int64(limit) {
		c.Add(-1)
		return nil, false
	}
	return func() { c.Add(-1) }, true
}

// agentLimit is the concurrency cap of agent: its configured cap, else
// half the workers for an external agent (so hanging external commands
// cannot take every worker or exhaust the node's descriptors), else
// none beyond the workers.
func (n *Node) agentLimit(rc *runtimeConfig, agent string) int {
	if c, ok := rc.agentConcurrency[agent]; ok {
		return c
	}
	if _, builtin := n.builtin[agent]; builtin {
		return 0
	}
	workers, _ := rc.poolLimits()
	return max(1, workers/2)
}

// acquireAgent takes a slot of in's agent, or answers the refusal the
// cap calls for (the reply body, as dispatch returns it).
func (n *Node) acquireAgent(rc *runtimeConfig, in *incoming) (release func(), rep agents.Reply, ok bool) {
	limit := n.agentLimit(rc, in.req.Agent)
	if release, ok = n.slots.acquire(in.req.Agent, limit); ok {
		return release, agents.Reply{}, true
	}
	msg := fmt.Sprintf("%s: agent %s on %s is running its maximum of %d requests (plugin.tutti.agent.%s.concurrency), retry later",
		BusyMsgPrefix, in.req.Agent, n.identity, limit, in.req.Agent)
	n.metrics.loadRefused(loadAgentCap)
	n.logLoad(loadAgentCap, in.req, msg)
	return nil, agents.Reply{StatusCode: protocol.Aborted, StatusMsg: msg}, false
}
