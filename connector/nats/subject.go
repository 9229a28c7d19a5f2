package nats

import (
	"fmt"
	"strings"

	"github.com/tuttifleet/tutti/connector"
)

// ErrDestination is wrapped by every refusal of a destination that cannot
// become a NATS subject. It is connector.ErrDestination.
var ErrDestination = connector.ErrDestination

// Subject maps a destination to its Choria NATS subject (docs/protocol.md
// §11.1):
//
//	Broadcast  <collective>.broadcast.agent.<agent>
//	Service    <collective>.broadcast.service.<agent>  (queue group <agent>)
//	Directed   <collective>.node.<identity>
//	Reply      the ReplyTo name verbatim
//
// Names that would break the subject (whitespace, wildcards, empty
// tokens) are refused with an error wrapping ErrDestination: the
// collective, agent and identity by Destination.CheckNames, the reply-to
// here.
func Subject(d connector.Destination) (string, error) {
	if err := d.CheckNames(); err != nil {
		return "", err
	}
	switch d.Kind {
	case connector.Broadcast:
		return d.Collective + ".broadcast.agent." + d.Agent, nil
	case connector.Service:
		return d.Collective + ".broadcast.service." + d.Agent, nil
	case connector.Directed:
		return d.Collective + ".node." + d.Identity, nil
	case connector.Reply:
		if err := checkReplyTo(d.ReplyTo); err != nil {
			return "", err
		}
		return d.ReplyTo, nil
	}
	return "", fmt.Errorf("%w: unknown kind %d", ErrDestination, int(d.Kind))
}

// checkReplyTo accepts any literal NATS subject: clients legitimately
// reply to subjects other than <collective>.reply.… (docs/protocol.md §11.2).
func checkReplyTo(r string) error {
	if r == "" {
		return fmt.Errorf("%w: empty reply-to", ErrDestination)
	}
	if i := strings.IndexFunc(r, isSpaceOrControl); i >= 0 {
		return fmt.Errorf("%w: reply-to %q: whitespace or control character at byte %d", ErrDestination, r, i)
	}
	for _, tok := range strings.Split(r, ".") {
		switch tok {
		case "":
			return fmt.Errorf("%w: reply-to %q: empty subject token", ErrDestination, r)
		case "*", ">":
			return fmt.Errorf("%w: reply-to %q: wildcard %q", ErrDestination, r, tok)
		}
	}
	return nil
}

func isSpaceOrControl(r rune) bool {
	return r <= ' ' || r == 0x7f || r == 0x85 || r == 0xa0 || r == 0x2028 || r == 0x2029
}
