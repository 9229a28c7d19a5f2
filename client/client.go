// Package client sends requests to the fleet and collects their replies:
// it builds and signs the request (with the user's key or through a
// remote signer), publishes it broadcast or directed, and verifies every
// reply — hash, request id, the node's signature and certificate — before
// handing it on. A reply that fails verification is reported, never
// silently dropped.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security"
)

// Options configure a Client.
type Options struct {
	Connector connector.Connector
	// Signer signs requests (LocalSigner, or security/remote).
	Signer security.RequestSigner
	// Verifier verifies node replies (the x509 provider).
	Verifier security.Verifier
	// Identity is the sender id put in requests (config identity).
	Identity string
	// Collective is the default collective.
	Collective string
	// TTL of requests (default 60s).
	TTL time.Duration
	// AcceptUnsignedReplies accepts replies that carry no node
	// signature, as State Unsigned: Choria servers never sign theirs.
	// Off (the zero value, and the default of
	// plugin.tutti.require_signed_replies) an unsigned reply is refused
	// like any other that does not verify (State Failed, ReasonUnsigned).
	AcceptUnsignedReplies bool
	// DirectedChunk is the most identities one signed directed request
	// names (0: DefaultDirectedChunk).
	DirectedChunk int
	// RequireFilter refuses broadcast requests without a filter
	// (plugin.choria.require_client_filter; see ErrFilterRequired).
	RequireFilter bool
	Log           *logrus.Entry
	Now           func() time.Time
}

// Client talks to the fleet.
type Client struct {
	o Options
}

// New returns a client.
func New(o Options) (*Client, error) {
	if o.Connector == nil || o.Signer == nil || o.Verifier == nil {
		return nil, errors.New("client: connector, signer and verifier are required")
	}
	if o.TTL == 0 {
		o.TTL = 60 * time.Second
	}
	if o.Collective == "" {
		o.Collective = "mcollective"
	}
	if o.Log == nil {
		o.Log = logrus.NewEntry(logrus.New())
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Client{o: o}, nil
}

// Request is one request to send.
type Request struct {
	Agent, Action string
	// Data is the RPC data object (nil → {}).
	Data json.RawMessage
	// Discovery sends the discovery agent's "ping" payload instead of RPC.
	Discovery  bool
	Filter     protocol.Filter
	Collective string // default: the client's
	// Targets, when set, sends the request directed to each of these
	// node identities instead of a broadcast, bound to them: the signed
	// identity filter names the nodes, replacing Filter's identity
	// patterns (see DefaultDirectedChunk). A target must be a plain
	// identity (letters, digits, '_', '.' and '-'); repeats are sent once.
	Targets []string
	// Timeout bounds the whole wait for replies (default 10s).
	Timeout time.Duration
	// IdleGap ends the wait once no reply arrived for this long after
	// the last one (0 = wait for Expect or Timeout only).
	IdleGap time.Duration
	// Expect ends the wait after this many replies (0 = no count).
	Expect int
	// TTL overrides the client's ttl.
	TTL time.Duration
}

// VerifyState says what the client could establish about a reply.
type VerifyState int

// Reply verification states.
const (
	// Verified: signed by the certificate of the node named in the reply.
	Verified VerifyState = iota
	// Unsigned: a reply with a hash but no signature, as Choria servers
	// send; accepted only with Options.AcceptUnsignedReplies.
	Unsigned
	// Failed: the reply was refused: it did not verify, or it is
	// unsigned and signed replies are required. Reason and Err say why;
	// Sender is only what the reply claims.
	Failed
)

func (v VerifyState) String() string {
	switch v {
	case Verified:
		return "verified"
	case Unsigned:
		return "unsigned"
	}
	return "failed"
}

// MarshalText renders the state in JSON output.
func (v VerifyState) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText reads what MarshalText wrote.
func (v *VerifyState) UnmarshalText(b []byte) error {
	switch string(b) {
	case "verified":
		*v = Verified
	case "unsigned":
		*v = Unsigned
	case "failed":
		*v = Failed
	default:
		return fmt.Errorf("unknown verification state %q", b)
	}
	return nil
}

// Result is one reply.
type Result struct {
	Sender   string
	Received time.Time
	// RTT is the time from publishing the request to receiving the reply.
	RTT time.Duration
	// Body is the reply message text (RPC JSON, or "pong").
	Body []byte
	// NodeTime is when the node made the reply, on the node's clock
	// (whole seconds; zero when the reply was refused before decoding).
	NodeTime time.Time
	// RPC is the decoded body for RPC replies.
	RPC   *protocol.RPCReply
	State VerifyState
	// Reason is why a Failed reply was refused; empty otherwise.
	Reason Reason
	Err    error
}

// Summary is the outcome of one request.
type Summary struct {
	// RequestID is the id of the (first) signed request.
	RequestID string
	// RequestIDs are the ids of every signed request: one for a
	// broadcast, one per chunk of targets for a directed request (and,
	// in a BatchSummary, those of every batch in order).
	RequestIDs []string
	Started    time.Time
	Published  time.Time
	Elapsed    time.Duration
	// Replies counts replies handed to the callback, Failed those that
	// were refused (also handed on, with State Failed), Unsigned those
	// accepted without a signature.
	Replies, Failed, Unsigned int
	// Refused are the refused replies in arrival order (Failed of them):
	// none of them is a node that answered.
	Refused []Result
	// UnsignedFrom are the senders of the replies accepted unsigned.
	UnsignedFrom []string
	// Duplicates are extra replies from a node that had already replied.
	Duplicates int
	// Unexpected are replies from nodes not in Targets (directed mode).
	Unexpected []string
	// Missing are Targets that did not reply.
	Missing []string
}

// Do sends req and calls onReply for every reply, from one goroutine, in
// arrival order, until the wait ends. A directed request (Targets) is
// signed in chunks of at most Options.DirectedChunk nodes, each chunk's
// signed identity filter naming exactly its nodes (see
// DefaultDirectedChunk); the replies of every chunk come to one reply
// subject and are collected together.
func (c *Client) Do(ctx context.Context, req Request, onReply func(Result)) (*Summary, error) {
	collective := req.Collective
	if collective == "" {
		collective = c.o.Collective
	}
	ttl := req.TTL
	if ttl == 0 {
		ttl = c.o.TTL
	}
	timeout := req.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	msgs, err := c.signAll(ctx, req, collective, ttl)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.id
	}
	replyTo := c.o.Connector.NewReplyTo(collective, c.o.Signer.CallerID(), ids[0])
	for i := range msgs {
		if msgs[i].transport, err = protocol.EncodeTransport(&protocol.Transport{Data: msgs[i].secure, ReplyTo: replyTo, Sender: c.o.Identity}); err != nil {
			return nil, err
		}
	}
	sum := &Summary{RequestID: ids[0], RequestIDs: ids, Started: c.o.Now()}
	col := newCollector(c, newRequestIDs(ids), req.Targets)
	sub, err := c.o.Connector.Subscribe(connector.Destination{Kind: connector.Reply, ReplyTo: replyTo}, col.receive)
	if err != nil {
		return nil, fmt.Errorf("subscribe to replies: %w", err)
	}
	defer sub.Unsubscribe()
	if err := c.o.Connector.Flush(ctx); err != nil {
		return nil, fmt.Errorf("flush reply subscription: %w", err)
	}
	sum.Published = time.Now()
	col.published = sum.Published
	if err := c.publish(ctx, req, collective, msgs); err != nil {
		return nil, err
	}
	col.wait(ctx, sum, timeout, req.IdleGap, req.Expect, onReply)
	sum.Elapsed = time.Since(sum.Published)
	return sum, nil
}

// signedMessage is one signed request of a Do and the nodes it is
// published to (none: broadcast).
type signedMessage struct {
	id        string
	secure    []byte
	transport []byte
	targets   []string
}

// signAll signs the broadcast request, or one request per chunk of
// targets, every chunk's filter being req.Filter with its identities in
// place of the filter's own identity patterns (the targets were chosen
// by them; the other selectors stay and only narrow). Everything is
// signed before anything is published.
func (c *Client) signAll(ctx context.Context, req Request, collective string, ttl time.Duration) ([]signedMessage, error) {
	if err := c.checkRequiredFilter(req); err != nil {
		return nil, err
	}
	if len(req.Targets) == 0 {
		secure, id, err := c.sign(ctx, req, req.Filter, collective, ttl)
		if err != nil {
			return nil, err
		}
		return []signedMessage{{id: id, secure: secure}}, nil
	}
	chunks, err := directedChunks(req.Targets, c.o.DirectedChunk)
	if err != nil {
		return nil, err
	}
	msgs := make([]signedMessage, 0, len(chunks))
	for i, chunk := range chunks {
		f := req.Filter
		f.Identity = chunk
		secure, id, err := c.sign(ctx, req, f, collective, ttl)
		if err != nil {
			if len(chunks) > 1 {
				err = fmt.Errorf("chunk %d of %d: %w", i+1, len(chunks), err)
			}
			return nil, err
		}
		msgs = append(msgs, signedMessage{id: id, secure: secure, targets: chunk})
	}
	return msgs, nil
}

// sign builds the request with filter and has it signed.
// A filter over the nodes' default limits is refused here with the
// reason: the nodes would refuse it without a reply.
func (c *Client) sign(ctx context.Context, req Request, filter protocol.Filter, collective string, ttl time.Duration) ([]byte, string, error) {
	if err := protocol.DefaultFilterLimits().Check(&filter); err != nil {
		return nil, "", fmt.Errorf("%w; nodes with the default plugin.tutti.filter.* limits refuse it without a reply", err)
	}
	agent := req.Agent
	msg := protocol.DiscoveryPayload
	if req.Discovery {
		agent = protocol.DiscoveryAgent
	} else {
		var err error
		if msg, err = protocol.EncodeRPCRequest(req.Agent, req.Action, req.Data); err != nil {
			return nil, "", err
		}
	}
	pr := &protocol.Request{
		ID: protocol.NewRequestID(), SenderID: c.o.Identity, CallerID: c.o.Signer.CallerID(), Collective: collective,
		Agent: agent, TTL: int(ttl / time.Second), Time: c.o.Now().Unix(), Filter: filter, Message: msg,
	}
	raw, err := protocol.EncodeRequest(pr)
	if err != nil {
		return nil, "", err
	}
	secure, err := c.o.Signer.SignRequest(ctx, raw)
	if err != nil {
		return nil, "", fmt.Errorf("sign request: %w", err)
	}
	return secure, pr.ID, nil
}

// publish sends the broadcast message, or each chunk's message to its
// own nodes' directed subjects only.
func (c *Client) publish(ctx context.Context, req Request, collective string, msgs []signedMessage) error {
	if len(req.Targets) == 0 {
		agent := req.Agent
		if req.Discovery {
			agent = protocol.DiscoveryAgent
		}
		if err := c.o.Connector.Publish(ctx, connector.Destination{Kind: connector.Broadcast, Collective: collective, Agent: agent}, msgs[0].transport); err != nil {
			return err
		}
		return c.o.Connector.Flush(ctx) // a broker's refusal (ActiveMQ ACL) surfaces here
	}
	for _, m := range msgs {
		for _, t := range m.targets {
			if err := c.o.Connector.Publish(ctx, connector.Destination{Kind: connector.Directed, Collective: collective, Identity: t}, m.transport); err != nil {
				return fmt.Errorf("publish to %s: %w", t, err)
			}
		}
	}
	return c.o.Connector.Flush(ctx)
}

// Discover returns the identities of the nodes matching filter, ending
// idleGap after the last reply or at timeout. Only replies that were
// accepted name a node; the summary lists the refused ones.
func (c *Client) Discover(ctx context.Context, filter protocol.Filter, collective string, timeout, idleGap time.Duration) ([]string, *Summary, error) {
	var nodes []string
	sum, err := c.Do(ctx, Request{Discovery: true, Filter: filter, Collective: collective, Timeout: timeout, IdleGap: idleGap},
		func(r Result) {
			if r.State != Failed && string(r.Body) == "pong" { // never a refused reply's claimed sender
				nodes = append(nodes, r.Sender)
			}
		})
	return nodes, sum, err
}

// LocalSigner signs requests with the user's own certificate and key.
type LocalSigner struct {
	Signer security.Signer
	Caller string
}

// CallerID implements security.RequestSigner.
func (l *LocalSigner) CallerID() string { return l.Caller }

// SignRequest implements security.RequestSigner.
func (l *LocalSigner) SignRequest(_ context.Context, request []byte) ([]byte, error) {
	sig, err := l.Signer.Sign(request)
	if err != nil {
		return nil, err
	}
	return protocol.EncodeSecureRequest(&protocol.SecureRequest{Message: request, Signature: sig, PubCert: l.Signer.CertificatePEM()})
}

var _ security.RequestSigner = (*LocalSigner)(nil)

// workers is how many goroutines verify replies in parallel.
var workers = runtime.GOMAXPROCS(0)

// collector receives raw replies, verifies them on a small worker pool
// and hands results to the waiting goroutine.
type collector struct {
	c         *Client
	ids       requestIDs
	targets   map[string]bool
	published time.Time
	raw       chan rawReply
	results   chan Result
	done      chan struct{}
	once      sync.Once
}

type rawReply struct {
	data []byte
	at   time.Time
}

func newCollector(c *Client, ids requestIDs, targets []string) *collector {
	col := &collector{c: c, ids: ids, raw: make(chan rawReply, 4096), results: make(chan Result, 4096), done: make(chan struct{})}
	if len(targets) > 0 {
		col.targets = make(map[string]bool, len(targets))
		for _, t := range targets {
			col.targets[t] = true
		}
	}
	return col
}

func (col *collector) receive(m connector.Message) {
	col.once.Do(col.startWorkers)
	select {
	case col.raw <- rawReply{data: m.Data, at: time.Now()}:
	case <-col.done:
	}
}

func (col *collector) startWorkers() {
	for i := 0; i < workers; i++ {
		go func() {
			for {
				var r rawReply
				select {
				case r = <-col.raw:
				case <-col.done:
					return
				}
				res, ok := col.c.verify(col.ids, r.data)
				if !ok {
					continue
				}
				res.Received = r.at
				res.RTT = r.at.Sub(col.published)
				select {
				case col.results <- res:
				case <-col.done:
					return
				}
			}
		}()
	}
}
