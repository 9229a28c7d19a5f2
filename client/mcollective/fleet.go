package mcollective

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/tuttifleet/tutti/client"
	mco "github.com/tuttifleet/tutti/connector/mcollective"
	rm "github.com/tuttifleet/tutti/connector/mcollective/rubymarshal"
	"github.com/tuttifleet/tutti/connector/protocol"
)

// ErrCompound: MCollective's compound filter (-S) is a token list this
// client does not write; such a request is refused before it is sent.
var ErrCompound = errors.New("compound filters (-S) are not supported towards MCollective nodes: use -F, -C, -I and -A")

// Do sends req as tutti's client.Client.Do does, to MCollective nodes:
// the same Request, Result and Summary, so the tutti CLI prints both the
// same way. A directed request (Targets) is broadcast with its identity
// filter naming exactly the targets (MCollective nodes check it; the
// other filters stay). Every reply is verified with the server key; one
// that does not verify or decode is handed on with State Failed and its
// Reason, never as a node. Replies carry no per-node signature, so a
// verified reply's Sender is what the node says it is (see the package
// comment).
func (c *Client) Do(ctx context.Context, req client.Request, onReply func(client.Result)) (*client.Summary, error) {
	filter, err := FilterFrom(req.Filter, req.Targets)
	if err != nil {
		return nil, err
	}
	agent, msg := "discovery", rm.Value("ping")
	if !req.Discovery {
		data, err := requestData(req.Data)
		if err != nil {
			return nil, err
		}
		agent = req.Agent
		msg = mco.RPCMsg(&mco.RPC{Agent: req.Agent, Action: req.Action, Caller: c.o.Caller, Data: data})
	}
	collective := req.Collective
	if collective == "" {
		collective = c.o.Collective
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	q := &rawQueue{notify: make(chan struct{}, 1)}
	sum := &client.Summary{Started: time.Now()}
	ex, err := c.publish(ctx, collective, agent, msg, filter, req.TTL, q.push)
	if err != nil {
		return nil, err
	}
	defer ex.stop()
	sum.RequestID, sum.RequestIDs, sum.Published = ex.id, []string{ex.id}, ex.published
	w := waiter{c: c, req: req, ex: ex, sum: sum, onReply: onReply, seen: map[string]bool{}}
	w.run(ctx, q, timeout)
	sum.Elapsed = time.Since(sum.Published)
	return sum, nil
}

// DoBatched is client.Client.DoBatched for MCollective nodes.
func (c *Client) DoBatched(ctx context.Context, req client.Request, b client.Batch, onReply func(client.Result)) (*client.BatchSummary, error) {
	return client.Batched(ctx, c.Do, req, b, onReply)
}

// Discover is client.Client.Discover for MCollective nodes: the senders
// of the verified discovery replies.
func (c *Client) Discover(ctx context.Context, filter protocol.Filter, collective string, timeout, idleGap time.Duration) ([]string, *client.Summary, error) {
	var nodes []string
	sum, err := c.Do(ctx, client.Request{Discovery: true, Filter: filter, Collective: collective, Timeout: timeout, IdleGap: idleGap},
		func(r client.Result) {
			if r.State != client.Failed && string(r.Body) == "pong" {
				nodes = append(nodes, r.Sender)
			}
		})
	return nodes, sum, err
}

// FilterFrom writes tutti's filter as MCollective's; with targets, the
// identity filter is exactly the targets.
func FilterFrom(f protocol.Filter, targets []string) (mco.Filter, error) {
	if len(f.Compound) > 0 {
		return mco.Filter{}, ErrCompound
	}
	if len(f.Unknown) > 0 {
		return mco.Filter{}, fmt.Errorf("filter keys %v have no MCollective form", f.Unknown)
	}
	out := mco.Filter{CFClass: f.CFClass, Agent: f.Agent, Identity: f.Identity}
	if len(targets) > 0 {
		out.Identity = targets
	}
	for _, ff := range f.Fact {
		out.Fact = append(out.Fact, mco.FactFilter{Fact: ff.Fact, Operator: ff.Operator, Value: ff.Value})
	}
	return out, nil
}

// requestData is the RPC data Hash (Symbol keys, as MCollective's
// client sends) from the CLI's JSON object, with :process_results.
func requestData(data json.RawMessage) (*rm.Hash, error) {
	v, err := mco.FromJSON(data)
	if err != nil {
		return nil, fmt.Errorf("request data: %w", err)
	}
	h, ok := v.(*rm.Hash)
	if !ok {
		return nil, fmt.Errorf("request data is a %T, not an object", v)
	}
	return h.Set(rm.Symbol("process_results"), true), nil
}

// rawReply is a reply as received, before verification.
type rawReply struct {
	data     []byte
	received time.Time
}

// rawQueue holds the replies the subscription hands over until the
// waiter takes them: the subscription never blocks on a slow printer.
type rawQueue struct {
	mu     sync.Mutex
	items  []rawReply
	notify chan struct{}
}

func (q *rawQueue) push(b []byte) {
	q.mu.Lock()
	q.items = append(q.items, rawReply{data: b, received: time.Now()})
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

func (q *rawQueue) take() []rawReply {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = nil
	return items
}

// waiter collects the replies of one Do as client.Client's collector
// does: until the timeout, the idle gap after the last reply, Expect
// distinct nodes or the end of ctx.
type waiter struct {
	c       *Client
	req     client.Request
	ex      *exchange
	sum     *client.Summary
	onReply func(client.Result)
	seen    map[string]bool
}

func (w *waiter) run(ctx context.Context, q *rawQueue, timeout time.Duration) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var idleC <-chan time.Time
	idle := time.NewTimer(time.Hour)
	idle.Stop()
	defer idle.Stop()
	defer w.finish()
	for {
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			return
		case <-idleC:
			return
		case <-q.notify:
			for _, raw := range q.take() {
				if w.handle(raw) {
					return
				}
			}
			if w.req.IdleGap > 0 {
				idle.Reset(w.req.IdleGap)
				idleC = idle.C
			}
		}
	}
}

// handle verifies one reply and hands it on; true ends the wait.
func (w *waiter) handle(raw rawReply) bool {
	r, ok := w.c.result(raw, w.ex, w.req.Discovery)
	if !ok {
		return false
	}
	if r.State == client.Failed {
		w.sum.Failed++
		w.sum.Refused = append(w.sum.Refused, r)
		w.c.o.Log.WithError(r.Err).WithField("request", w.ex.id).WithField("sender", r.Sender).Warn("reply refused: " + string(r.Reason))
	} else {
		if w.seen[r.Sender] {
			w.sum.Duplicates++
			return false
		}
		w.seen[r.Sender] = true
		if len(w.req.Targets) > 0 && !contains(w.req.Targets, r.Sender) {
			w.sum.Unexpected = append(w.sum.Unexpected, r.Sender)
		}
	}
	w.sum.Replies++
	if w.onReply != nil {
		w.onReply(r)
	}
	return w.req.Expect > 0 && len(w.seen) >= w.req.Expect
}

func (w *waiter) finish() {
	for _, t := range w.req.Targets {
		if !w.seen[t] && !contains(w.sum.Missing, t) {
			w.sum.Missing = append(w.sum.Missing, t)
		}
	}
	sort.Strings(w.sum.Missing)
	sort.Strings(w.sum.Unexpected)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// result verifies and decodes one reply. A reply to another request is
// dropped (false): the reply queue is this request's own, so it is
// logged. Anything else that fails is a refused Result with its reason.
func (c *Client) result(raw rawReply, ex *exchange, discovery bool) (client.Result, bool) {
	res := client.Result{Received: raw.received, RTT: raw.received.Sub(ex.published)}
	refuse := func(reason client.Reason, err error) (client.Result, bool) {
		res.State, res.Reason, res.Err = client.Failed, reason, err
		return res, true
	}
	r, err := mco.DecodeReply(c.o.Serializer, raw.data)
	if err != nil {
		return refuse(client.ReasonMalformed, err)
	}
	res.Sender = r.SenderID
	if r.RequestID != ex.id {
		c.o.Log.WithField("request", ex.id).WithField("sender", r.SenderID).Warnf("reply dropped: it answers request %s", r.RequestID)
		return res, false
	}
	if err := mco.Verify(c.o.ServerKey, r.Body, r.Hash); err != nil {
		return refuse(client.ReasonSignature, fmt.Errorf("verify with plugin.ssl_server_public: %w", err))
	}
	body, pong, err := mco.DecodeReplyBody(c.o.Serializer, r.Body)
	if err != nil {
		return refuse(client.ReasonMalformed, err)
	}
	if r.MsgTime > 0 {
		res.NodeTime = time.Unix(r.MsgTime, 0)
	}
	res.State = client.Verified
	if discovery {
		if !pong {
			return refuse(client.ReasonMalformed, errors.New("a discovery reply that is not pong"))
		}
		res.Body = []byte("pong")
		return res, true
	}
	if body == nil {
		return refuse(client.ReasonMalformed, errors.New("an RPC reply without a body"))
	}
	data, err := mco.ToJSON(body.Data)
	if err != nil {
		return refuse(client.ReasonMalformed, err)
	}
	if data == nil {
		data = map[string]any{}
	}
	js, err := json.Marshal(data)
	if err != nil {
		return refuse(client.ReasonMalformed, err)
	}
	res.RPC = &protocol.RPCReply{StatusCode: protocol.StatusCode(body.StatusCode), StatusMsg: body.StatusMsg, Data: js}
	if res.Body, err = json.Marshal(res.RPC); err != nil {
		return refuse(client.ReasonMalformed, err)
	}
	return res, true
}
