// Package connector moves opaque messages between tutti clients and nodes
// over a broker. A Connector never looks inside a message: it maps tutti's
// destinations (broadcast to an agent, directed to a node, a reply inbox)
// onto the broker's addressing and delivers bytes.
//
// Implementations: connector/nats (Choria subjects), connector/stomp
// (MCollective's ActiveMQ destinations). One conformance suite
// (connector/conformance) runs against each on a real broker.
package connector

import (
	"context"
	"errors"
)

// Kind is the kind of a destination.
type Kind int

// Destination kinds.
const (
	// Broadcast reaches every node that hosts Agent in Collective.
	Broadcast Kind = iota + 1
	// Directed reaches the single node Identity in Collective.
	Directed
	// Reply is a client's reply inbox named by ReplyTo.
	Reply
	// Service reaches exactly one of the nodes hosting a service Agent.
	Service
)

func (k Kind) String() string {
	switch k {
	case Broadcast:
		return "broadcast"
	case Directed:
		return "directed"
	case Reply:
		return "reply"
	case Service:
		return "service"
	}
	return "unknown"
}

// Destination says where a message goes or what a subscription receives.
type Destination struct {
	Kind       Kind
	Collective string
	Agent      string // Broadcast, Service
	Identity   string // Directed
	// ReplyTo is, on a Reply destination, the name from NewReplyTo (or
	// a request's reply-to). On a request destination it is sent as the
	// broker's reply-to header by connectors that have one (STOMP, for
	// MCollective's ssl mode); others ignore it.
	ReplyTo string
}

// Message is one received message.
type Message struct {
	// Data is the payload exactly as published.
	Data []byte
	// Destination is the subscription's destination.
	Destination Destination
	// ReplyTo is the broker-level reply-to header, on connectors that
	// carry one (STOMP: MCollective clients put their reply queue
	// there, not in the payload). Unauthenticated, like the payload's.
	ReplyTo string
}

// Handler receives messages. It is called from the connector's delivery
// goroutine for that subscription; a slow handler delays only its own
// subscription.
type Handler func(Message)

// Subscription is an active subscription.
type Subscription interface {
	Unsubscribe() error
}

// Connector is a connection to a broker (or a pool of them).
type Connector interface {
	// Publish sends data to dest.
	Publish(ctx context.Context, dest Destination, data []byte) error
	// Subscribe delivers every message for dest to h until Unsubscribe.
	Subscribe(dest Destination, h Handler) (Subscription, error)
	// NewReplyTo returns a fresh reply-inbox name for a request, to put
	// in the transport's reply-to header and to Subscribe to as a Reply
	// destination. NATS: <collective>.reply.<md5(callerid)>.<requestid>.
	NewReplyTo(collective, callerID, requestID string) string
	// Flush waits until everything published so far reached the broker.
	Flush(ctx context.Context) error
	// Close ends the connection. It is safe to call more than once.
	Close() error
}

// ReplyCanonicalizer is implemented by connectors on which more than one
// spelling of a reply-to reaches the same reply inbox (STOMP: "x" and
// "/queue/x" are the same queue). CanonicalReplyTo returns the spelling
// NewReplyTo makes, so that a node enforcing strict_reply_to compares
// the address the reply will really be published to. A connector whose
// reply-to is the broker address itself (NATS) does not implement it.
type ReplyCanonicalizer interface {
	CanonicalReplyTo(replyTo string) string
}

// ErrClosed is returned by operations on a closed connector.
var ErrClosed = errors.New("connector closed")

// ErrDenied is wrapped by a refusal of the broker: a publish or subscribe
// its permissions do not allow this connection's certificate. Connectors
// that learn of it asynchronously (NATS) return it from the next Flush.
var ErrDenied = errors.New("permission denied by the broker")
