package connector

import (
	"crypto/md5" //nolint:gosec // a namespace, not security (docs/protocol.md §11.1)
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// ErrDestination is wrapped by every refusal of a destination that cannot
// become a broker's address. connector/nats and connector/stomp export it
// under their own names as well.
var ErrDestination = errors.New("invalid destination")

var (
	agentRe      = regexp.MustCompile(`^[a-z0-9_]+$`)
	identityRe   = regexp.MustCompile(`^[\w.\-]+$`)
	collectiveRe = regexp.MustCompile(`^[\w\-]+$`)
)

// CheckNames checks the names every connector puts into its broker's
// addresses, so that no name can add a wildcard, a separator or another
// element to them: a Broadcast or Service destination needs a Collective
// (letters, digits, '_' and '-') and an Agent (lower-case letters, digits
// and '_'); a Directed one a Collective and an Identity (letters, digits,
// '_', '.' and '-', no empty part between dots). A Reply name is not
// checked here: what a reply-to may be differs per broker. The error
// wraps ErrDestination and names the field.
func (d Destination) CheckNames() error {
	switch d.Kind {
	case Broadcast, Service:
		if err := checkCollective(d.Collective); err != nil {
			return err
		}
		if !agentRe.MatchString(d.Agent) {
			return fmt.Errorf("%w: %s agent %q: want lower-case letters, digits and '_'", ErrDestination, d.Kind, d.Agent)
		}
	case Directed:
		if err := checkCollective(d.Collective); err != nil {
			return err
		}
		if !identityRe.MatchString(d.Identity) {
			return fmt.Errorf("%w: identity %q: want letters, digits, '_', '.' and '-'", ErrDestination, d.Identity)
		}
		id := d.Identity
		if strings.HasPrefix(id, ".") || strings.HasSuffix(id, ".") || strings.Contains(id, "..") {
			return fmt.Errorf("%w: identity %q: empty name part (leading, trailing or double '.')", ErrDestination, id)
		}
	case Reply:
	default:
		return fmt.Errorf("%w: unknown kind %d", ErrDestination, int(d.Kind))
	}
	return nil
}

func checkCollective(c string) error {
	if !collectiveRe.MatchString(c) {
		return fmt.Errorf("%w: collective %q: want letters, digits, '_' and '-'", ErrDestination, c)
	}
	return nil
}

// ReplyPrefix is the reply name prefix for a caller in a collective,
// <collective>.reply.<hex md5(callerID)>. (with the trailing dot), the
// same on every broker (docs/protocol.md §11.1). Nodes enforcing
// strict_reply_to compare a request's reply-to against it.
func ReplyPrefix(collective, callerID string) string {
	sum := md5.Sum([]byte(callerID)) //nolint:gosec // namespace only
	return collective + ".reply." + hex.EncodeToString(sum[:]) + "."
}

// ReplyTo is the reply name for one request:
// <collective>.reply.<hex md5(callerID)>.<requestID>. Connectors return
// it from NewReplyTo.
func ReplyTo(collective, callerID, requestID string) string {
	return ReplyPrefix(collective, callerID) + requestID
}
