package nats

import (
	"crypto/md5" //nolint:gosec // a namespace, not security (PROTOCOL.md §11.1)
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/tuttifleet/tutti/connector"
)

// ErrDestination is wrapped by every refusal of a destination that cannot
// become a NATS subject.
var ErrDestination = errors.New("invalid destination")

var (
	agentRe      = regexp.MustCompile(`^[a-z0-9_]+$`)
	identityRe   = regexp.MustCompile(`^[\w.\-]+$`)
	collectiveRe = regexp.MustCompile(`^[\w\-]+$`)
)

// Subject maps a destination to its Choria NATS subject (PROTOCOL.md
// §11.1):
//
//	Broadcast  <collective>.broadcast.agent.<agent>
//	Service    <collective>.broadcast.service.<agent>  (queue group <agent>)
//	Directed   <collective>.node.<identity>
//	Reply      the ReplyTo name verbatim
//
// Names that would break the subject (whitespace, wildcards, empty
// tokens) are refused with an error wrapping ErrDestination.
func Subject(d connector.Destination) (string, error) {
	switch d.Kind {
	case connector.Broadcast, connector.Service:
		if err := checkCollective(d.Collective); err != nil {
			return "", err
		}
		if !agentRe.MatchString(d.Agent) {
			return "", fmt.Errorf("%w: %s agent %q: want lower-case letters, digits and '_'", ErrDestination, d.Kind, d.Agent)
		}
		kind := "agent"
		if d.Kind == connector.Service {
			kind = "service"
		}
		return d.Collective + ".broadcast." + kind + "." + d.Agent, nil
	case connector.Directed:
		if err := checkCollective(d.Collective); err != nil {
			return "", err
		}
		if err := checkIdentity(d.Identity); err != nil {
			return "", err
		}
		return d.Collective + ".node." + d.Identity, nil
	case connector.Reply:
		if err := checkReplyTo(d.ReplyTo); err != nil {
			return "", err
		}
		return d.ReplyTo, nil
	}
	return "", fmt.Errorf("%w: unknown kind %d", ErrDestination, int(d.Kind))
}

func checkCollective(c string) error {
	if !collectiveRe.MatchString(c) {
		return fmt.Errorf("%w: collective %q: want letters, digits, '_' and '-'", ErrDestination, c)
	}
	return nil
}

func checkIdentity(id string) error {
	if !identityRe.MatchString(id) {
		return fmt.Errorf("%w: identity %q: want letters, digits, '_', '.' and '-'", ErrDestination, id)
	}
	if strings.HasPrefix(id, ".") || strings.HasSuffix(id, ".") || strings.Contains(id, "..") {
		return fmt.Errorf("%w: identity %q: empty name part (leading, trailing or double '.')", ErrDestination, id)
	}
	return nil
}

// checkReplyTo accepts any literal NATS subject: clients legitimately
// reply to subjects other than <collective>.reply.… (PROTOCOL.md §11.2).
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

// ReplyPrefix is the reply subject prefix for a caller in a collective,
// <collective>.reply.<hex md5(callerID)>. (with the trailing dot). Nodes
// enforcing strict_reply_to compare a request's reply-to against it.
func ReplyPrefix(collective, callerID string) string {
	sum := md5.Sum([]byte(callerID)) //nolint:gosec // namespace only
	return collective + ".reply." + hex.EncodeToString(sum[:]) + "."
}

// ReplyTo is the reply subject for one request:
// <collective>.reply.<hex md5(callerID)>.<requestID>.
func ReplyTo(collective, callerID, requestID string) string {
	return ReplyPrefix(collective, callerID) + requestID
}
