// Package mcollective is a client for MCollective 2.12 nodes (mcollectived,
// or tuttid in ssl mode) with MCollective's ssl security plugin
// (docs/mcollective.md): it signs requests with the caller's RSA key
// (callerid cert=<name>), publishes them on the agent's broadcast topic
// with the reply queue in the STOMP reply-to header, and verifies every
// reply with the site's shared server key. A reply's sender name is not
// bound to that key (every node has it): Reply.Sender is unverified.
package mcollective

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/connector"
	mco "github.com/tuttifleet/tutti/connector/mcollective"
	rm "github.com/tuttifleet/tutti/connector/mcollective/rubymarshal"
)

// Options configure a Client.
type Options struct {
	Connector  connector.Connector
	Serializer mco.Serializer
	// Key signs requests; Caller is its callerid (cert=<name>).
	Key    *rsa.PrivateKey
	Caller string
	// ServerKey verifies replies (plugin.ssl_server_public).
	ServerKey *rsa.PublicKey
	// Sender is the client's identity (the reply queue's name).
	Sender     string
	Collective string
	TTL        time.Duration
	Log        *logrus.Entry
}

// Client sends requests; it is safe for concurrent use.
type Client struct {
	o   Options
	seq atomic.Uint64
}

// New checks o and returns a client.
func New(o Options) (*Client, error) {
	if o.Connector == nil || o.Serializer == nil || o.Key == nil || o.ServerKey == nil || o.Log == nil {
		return nil, errors.New("mcollective client: connector, serializer, key, server key and logger are required")
	}
	if _, err := mco.CallerName(o.Caller); err != nil {
		return nil, err
	}
	if o.TTL <= 0 {
		o.TTL = 60 * time.Second
	}
	return &Client{o: o}, nil
}

// Reply is one verified reply.
type Reply struct {
	// Sender is the reply's senderid: unverified (all nodes share the key).
	Sender string
	// Pong is set for a discovery reply; Body for an RPC reply.
	Pong bool
	Body *mco.ReplyBody
}

// Ping discovers the nodes matching filter: every node that answers
// within wait.
func (c *Client) Ping(ctx context.Context, filter mco.Filter, wait time.Duration) ([]Reply, error) {
	return c.request(ctx, "discovery", "ping", filter, wait)
}

// RPC calls agent#action with data on the nodes matching filter and
// collects the replies that arrive within wait.
func (c *Client) RPC(ctx context.Context, agent, action string, data *rm.Hash, filter mco.Filter, wait time.Duration) ([]Reply, error) {
	if data == nil {
		data = rm.Sym("process_results", true)
	}
	msg := mco.RPCMsg(&mco.RPC{Agent: agent, Action: action, Caller: c.o.Caller, Data: data})
	return c.request(ctx, agent, msg, filter, wait)
}

func (c *Client) request(ctx context.Context, agent string, msg rm.Value, filter mco.Filter, wait time.Duration) ([]Reply, error) {
	q := &rawQueue{notify: make(chan struct{}, 1)}
	ex, err := c.publish(ctx, c.o.Collective, agent, msg, filter, c.o.TTL, q.push)
	if err != nil {
		return nil, err
	}
	defer ex.stop()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	var replies []Reply
	for _, raw := range q.take() {
		r, err := c.verify(raw.data, ex.id)
		if err != nil {
			c.o.Log.WithError(err).WithField("request", ex.id).Warn("reply dropped")
			continue
		}
		replies = append(replies, *r)
	}
	return replies, nil
}

// exchange is a published request: its id, when it was published, and
// stop, which ends the reply subscription.
type exchange struct {
	id        string
	published time.Time
	stop      func()
}

// publish signs msg, subscribes recv to a reply queue of its own and
// broadcasts the request on agent's topic in collective. recv gets every
// message on the reply queue, unverified.
func (c *Client) publish(ctx context.Context, collective, agent string, msg rm.Value, filter mco.Filter, ttlD time.Duration,
	recv func([]byte)) (*exchange, error) {
	now := time.Now().Unix()
	if ttlD <= 0 {
		ttlD = c.o.TTL
	}
	ttl := int64(ttlD / time.Second)
	body, err := mco.EncodeBody(c.o.Serializer, &mco.Body{Msg: msg, TTL: ttl, MsgTime: now})
	if err != nil {
		return nil, err
	}
	hash, err := mco.Sign(c.o.Key, body)
	if err != nil {
		return nil, err
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	reqID := hex.EncodeToString(id)
	wire, err := mco.EncodeRequest(c.o.Serializer, &mco.Request{Body: body, SenderID: c.o.Sender, RequestID: reqID, Filter: filter,
		Collective: collective, Agent: agent, CallerID: c.o.Caller, TTL: ttl, MsgTime: now, Hash: hash})
	if err != nil {
		return nil, err
	}
	replyTo := collective + ".reply." + c.o.Sender + "_" + strconv.Itoa(os.Getpid()) + "." + strconv.FormatUint(c.seq.Add(1), 10)
	sub, err := c.o.Connector.Subscribe(connector.Destination{Kind: connector.Reply, ReplyTo: replyTo}, func(m connector.Message) { recv(m.Data) })
	if err != nil {
		return nil, fmt.Errorf("subscribe to replies: %w", err)
	}
	stop := func() { _ = sub.Unsubscribe() }
	if err := c.o.Connector.Flush(ctx); err != nil {
		stop()
		return nil, fmt.Errorf("flush reply subscription: %w", err)
	}
	published := time.Now()
	dest := connector.Destination{Kind: connector.Broadcast, Collective: collective, Agent: agent, ReplyTo: replyTo}
	if err := c.o.Connector.Publish(ctx, dest, wire); err != nil {
		stop()
		return nil, fmt.Errorf("publish: %w", err)
	}
	return &exchange{id: reqID, published: published, stop: stop}, nil
}

// verify decodes a reply, checks it answers reqID and verifies its
// signature with the server key before decoding the body.
func (c *Client) verify(b []byte, reqID string) (*Reply, error) {
	r, err := mco.DecodeReply(c.o.Serializer, b)
	if err != nil {
		return nil, err
	}
	if r.RequestID != reqID {
		return nil, fmt.Errorf("reply from %s is for request %s", r.SenderID, r.RequestID)
	}
	if err := mco.Verify(c.o.ServerKey, r.Body, r.Hash); err != nil {
		return nil, fmt.Errorf("reply from %s: %w", r.SenderID, err)
	}
	body, pong, err := mco.DecodeReplyBody(c.o.Serializer, r.Body)
	if err != nil {
		return nil, fmt.Errorf("reply from %s: %w", r.SenderID, err)
	}
	return &Reply{Sender: r.SenderID, Pong: pong, Body: body}, nil
}
