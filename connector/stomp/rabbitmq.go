package stomp

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/tuttifleet/tutti/connector"
)

// Naming is the broker whose destination names a Conn uses.
type Naming int

// Namings.
const (
	// ActiveMQ is MCollective's activemq connector (Map): topics, the
	// nodes queue with an mc_identity selector, reply queues.
	ActiveMQ Naming = iota
	// RabbitMQ is MCollective's rabbitmq connector (MapRabbitMQ):
	// exchanges per collective with routing keys.
	RabbitMQ
)

func (n Naming) String() string {
	if n == RabbitMQ {
		return "rabbitmq"
	}
	return "activemq"
}

// DefaultRabbitMQVHost is the CONNECT host header (the RabbitMQ virtual
// host) when none is configured, as in MCollective's rabbitmq connector.
const DefaultRabbitMQVHost = "/"

// Exchange suffixes: a collective c needs the exchanges c_broadcast
// (type topic), c_directed and c_reply (type direct) on the broker.
const (
	BroadcastExchange = "_broadcast"
	DirectedExchange  = "_directed"
	ReplyExchange     = "_reply"
)

// rabbitReplyRe is /exchange/<collective>_reply/<name>, the reply-to a
// RabbitMQ connection's NewReplyTo name maps to, accepted back as well.
var rabbitReplyRe = regexp.MustCompile(`^/exchange/([\w\-]+)_reply/(.+)$`)

// MapRabbitMQ maps a destination to MCollective's RabbitMQ naming
// (exchanges that an administrator declares once per collective, see
// BroadcastExchange), with a reply exchange as MCollective's
// use_reply_exchange mode has:
//
//	Broadcast  /exchange/<collective>_broadcast/<agent>   (topic exchange)
//	Directed   /exchange/<collective>_directed/<identity> (direct exchange)
//	Service    /queue/<collective>.<agent>.service        (a queue: one consumer gets each)
//	Reply      /exchange/<collective>_reply/<reply-to>    (direct exchange)
//
// Subscribing to an exchange destination gives each subscription its own
// exclusive, auto-deleted queue bound with the routing key, so directed
// requests need no selector. MCollective's /temp-queue/ replies cannot
// be used: RabbitMQ rewrites a STOMP reply-to header, and tutti's
// reply-to travels inside the signed request.
//
// A reply-to is tutti's <collective>.reply.<md5>.<id> (its first element
// names the collective, hence the exchange) or that destination spelled
// out. Names that could change the destination are refused with an
// error wrapping ErrDestination.
func MapRabbitMQ(d connector.Destination) (Target, error) {
	if err := d.CheckNames(); err != nil {
		return Target{}, err
	}
	switch d.Kind {
	case connector.Broadcast:
		return Target{Name: "/exchange/" + d.Collective + BroadcastExchange + "/" + d.Agent}, nil
	case connector.Service:
		return Target{Name: "/queue/" + d.Collective + "." + d.Agent + ".service"}, nil
	case connector.Directed:
		return Target{Name: "/exchange/" + d.Collective + DirectedExchange + "/" + d.Identity}, nil
	case connector.Reply:
		name, err := rabbitReply(d.ReplyTo)
		if err != nil {
			return Target{}, err
		}
		return Target{Name: name}, nil
	}
	return Target{}, fmt.Errorf("%w: unknown kind %d", ErrDestination, int(d.Kind))
}

// rabbitReply turns a reply-to into its exchange destination.
func rabbitReply(r string) (string, error) {
	name := r
	if m := rabbitReplyRe.FindStringSubmatch(r); m != nil {
		name = m[2]
		if !strings.HasPrefix(name, m[1]+".") {
			return "", fmt.Errorf("%w: reply-to %q: the routing key must start with the exchange's collective %q", ErrDestination, r, m[1])
		}
	}
	if name == "" {
		return "", fmt.Errorf("%w: empty reply-to", ErrDestination)
	}
	toks := strings.Split(name, ".")
	for _, tok := range toks {
		if !replyTokenRe.MatchString(tok) {
			return "", fmt.Errorf("%w: reply-to %q: element %q: want letters, digits, '_' and '-' between dots", ErrDestination, r, tok)
		}
	}
	if len(toks) < 2 {
		return "", fmt.Errorf("%w: reply-to %q: want <collective>.<name>, the collective chooses the reply exchange", ErrDestination, r)
	}
	return "/exchange/" + toks[0] + ReplyExchange + "/" + name, nil
}

// mapDest maps d with the Conn's naming.
func (c *Conn) mapDest(d connector.Destination) (Target, error) {
	if c.cfg.Naming == RabbitMQ {
		return MapRabbitMQ(d)
	}
	return Map(d)
}
