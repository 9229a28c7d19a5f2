package stomp

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/tuttifleet/tutti/connector"
)

// ErrDestination is wrapped by every refusal of a destination that cannot
// become an ActiveMQ destination. It is connector.ErrDestination.
var ErrDestination = connector.ErrDestination

// IdentityHeader carries a directed request's target node; nodes
// subscribe to the nodes queue with a selector on it (MCollective's
// mc_identity).
const IdentityHeader = "mc_identity"

var replyTokenRe = regexp.MustCompile(`^[\w\-]+$`)

// Target is where a destination lives on the broker.
type Target struct {
	// Name is the STOMP destination: /topic/… or /queue/….
	Name string
	// Identity is set for directed requests: the value of the
	// mc_identity header on SEND and of the selector on SUBSCRIBE.
	Identity string
}

// Selector is the JMS selector a node subscribes with (directed only).
func (t Target) Selector() string {
	if t.Identity == "" {
		return ""
	}
	return IdentityHeader + " = '" + t.Identity + "'"
}

// Map maps a destination to MCollective's ActiveMQ naming (docs/protocol.md
// §15.1), with collectives as the first name element:
//
//	Broadcast  /topic/<collective>.<agent>.agent
//	Service    /queue/<collective>.<agent>.service  (a queue: one consumer gets each)
//	Directed   /queue/<collective>.nodes with mc_identity: <identity>
//	Reply      /queue/<reply-to>  (a reply-to may already start with /queue/)
//
// Names that would change the meaning of a destination (ActiveMQ
// wildcards '*' '>', composite destinations ',', path separators,
// whitespace, quotes inside a selector) are refused with an error
// wrapping ErrDestination: the collective, agent and identity by
// Destination.CheckNames, the reply-to here.
func Map(d connector.Destination) (Target, error) {
	if err := d.CheckNames(); err != nil {
		return Target{}, err
	}
	switch d.Kind {
	case connector.Broadcast:
		return Target{Name: "/topic/" + d.Collective + "." + d.Agent + ".agent"}, nil
	case connector.Service:
		return Target{Name: "/queue/" + d.Collective + "." + d.Agent + ".service"}, nil
	case connector.Directed:
		return Target{Name: "/queue/" + d.Collective + ".nodes", Identity: d.Identity}, nil
	case connector.Reply:
		name, err := replyQueue(d.ReplyTo)
		if err != nil {
			return Target{}, err
		}
		return Target{Name: name}, nil
	}
	return Target{}, fmt.Errorf("%w: unknown kind %d", ErrDestination, int(d.Kind))
}

// replyQueue turns a reply-to name into its queue. Both tutti's
// <collective>.reply.<md5>.<id> and MCollective's /queue/<collective>.reply.…
// are accepted; every dot-separated element must be letters, digits, '_'
// or '-', so a reply-to can name exactly one queue and nothing else.
func replyQueue(r string) (string, error) {
	name := strings.TrimPrefix(r, "/queue/")
	if name == "" {
		return "", fmt.Errorf("%w: empty reply-to", ErrDestination)
	}
	for _, tok := range strings.Split(name, ".") {
		if !replyTokenRe.MatchString(tok) {
			return "", fmt.Errorf("%w: reply-to %q: element %q: want letters, digits, '_' and '-' between dots", ErrDestination, r, tok)
		}
	}
	return "/queue/" + name, nil
}
