package remote

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tuttifleet/tutti/connector/protocol"
)

// Two-person approval, the client side (docs/central-aaa.md): tutti-aaa
// may hold a request for a second person and answer with an approval
// id instead of a signature. The Signer then waits for the decision
// (Approval.Wait) or returns a *PendingError; approvers use Approvals.

// Error codes of the approval path, as tutti-aaa sends them.
const (
	CodePendingApproval = "pending_approval"
	CodeApprovalDenied  = "approval_denied"
	CodeApprovalExpired = "approval_expired"
)

// Approval states.
const (
	StatePending  = "pending"
	StateApproved = "approved"
	StateDenied   = "denied"
	StateExpired  = "expired"
	StateSigned   = "signed"
)

// ErrPending matches a *PendingError.
var ErrPending = errors.New("the request is pending approval")

// DefaultApprovalPoll is how often a waiting client asks for the decision.
const DefaultApprovalPoll = 2 * time.Second

// ApprovalOptions say what the Signer does with a request held for
// approval.
type ApprovalOptions struct {
	// Wait polls for the decision until Timeout; without it the Signer
	// returns a *PendingError at once.
	Wait    bool
	Timeout time.Duration
	// Poll is the interval between status checks; default DefaultApprovalPoll.
	Poll time.Duration
	// OnPending is told once per held request, before waiting.
	OnPending func(id, message string)
	// ID redeems an approval given earlier: RPC requests carry it
	// (tutti rpc … --approval ID after --no-wait).
	ID string
}

// PendingError is a request tutti-aaa holds for approval.
type PendingError struct {
	ID string
	// TimedOut: the client waited Timeout without a decision.
	TimedOut bool
	Timeout  time.Duration
}

func (e *PendingError) Error() string {
	if e.TimedOut {
		return fmt.Sprintf("no decision on approval %s within %s; it stays pending: run the same command with --approval %s once approved", e.ID, e.Timeout, e.ID)
	}
	return fmt.Sprintf("the request is pending approval %s: once approved, run the same command with --approval %s", e.ID, e.ID)
}

// Is matches ErrPending.
func (e *PendingError) Is(target error) bool { return target == ErrPending }

// Approval is one held request as tutti-aaa shows it.
type Approval struct {
	ID              string          `json:"id"`
	State           string          `json:"state"`
	Requester       string          `json:"requester"`
	Agent           string          `json:"agent"`
	Action          string          `json:"action"`
	Collective      string          `json:"collective"`
	Data            json.RawMessage `json:"data"`
	Filter          json.RawMessage `json:"filter"`
	Targets         []string        `json:"targets,omitempty"`
	Rule            string          `json:"rule"`
	RequestID       string          `json:"request_id"`
	SignedRequestID string          `json:"signed_request_id,omitempty"`
	Created         time.Time       `json:"created"`
	Expires         time.Time       `json:"expires"`
	Decided         time.Time       `json:"decided,omitzero"`
	Approver        string          `json:"approver,omitempty"`
	Reason          string          `json:"reason,omitempty"`
}

// ApprovalProof is the text signed for an approvals call; tutti-aaa
// checks the same text.
func ApprovalProof(op, id, reason string, t int64) []byte {
	return []byte("tutti-approval:1\n" + op + "\n" + id + "\n" + reason + "\n" + strconv.FormatInt(t, 10))
}

type approvalCall struct {
	Token     string `json:"token"`
	Op        string `json:"op"`
	ID        string `json:"id,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Time      int64  `json:"time"`
	Signature string `json:"signature"`
}

type approvalAnswer struct {
	Approvals []Approval `json:"approvals"`
	Error     string     `json:"error"`
	ErrorCode string     `json:"error_code"`
}

// approvalsURL is the approvals endpoint beside the sign endpoint.
func (s *Signer) approvalsURL() (string, error) {
	base, ok := strings.CutSuffix(s.url, "/choria/v1/sign")
	if !ok {
		return "", fmt.Errorf("remote signer: cannot find the approvals endpoint beside %s (it must end in /choria/v1/sign)", s.url)
	}
	return base + "/tutti/v1/approvals", nil
}

// Approvals makes an approvals call: op is list, show, approve or deny.
// Refusals are *RefusedError.
func (s *Signer) Approvals(ctx context.Context, op, id, reason string) ([]Approval, error) {
	if err := s.checkExpiry(); err != nil {
		return nil, err
	}
	if s.seed == nil {
		return nil, errors.New("remote signer: approvals need the login key (token.key): run tutti login")
	}
	url, err := s.approvalsURL()
	if err != nil {
		return nil, err
	}
	now := s.now().Unix()
	call := approvalCall{Token: s.token, Op: op, ID: id, Reason: reason, Time: now,
		Signature: hex.EncodeToString(ed25519.Sign(s.seed, ApprovalProof(op, id, reason, now)))}
	var ans approvalAnswer
	if err := postJSON(ctx, s.client, url, call, &ans); err != nil {
		return nil, err
	}
	if ans.Error != "" {
		return nil, &RefusedError{Message: ans.Error, Code: ans.ErrorCode}
	}
	return ans.Approvals, nil
}

// pending handles a held request: a *PendingError at once, or the wait
// for the decision and then the signature.
func (s *Signer) pending(ctx context.Context, request []byte, id string) ([]byte, error) {
	o := s.approval
	if o.OnPending != nil {
		o.OnPending(id, PendingMessage(id))
	}
	if !o.Wait {
		return nil, &PendingError{ID: id}
	}
	poll := o.Poll
	if poll <= 0 {
		poll = DefaultApprovalPoll
	}
	wctx := ctx
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-wctx.Done():
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, &PendingError{ID: id, TimedOut: true, Timeout: o.Timeout}
		case <-t.C:
		}
		list, err := s.Approvals(wctx, "show", id, "")
		switch {
		case err != nil && wctx.Err() != nil && ctx.Err() == nil:
			return nil, &PendingError{ID: id, TimedOut: true, Timeout: o.Timeout}
		case errors.Is(err, ErrUnreachable):
			continue // tutti-aaa restarting: the approval is stored, keep asking
		case err != nil:
			return nil, fmt.Errorf("approval %s: %w", id, err)
		}
		if len(list) != 1 {
			return nil, fmt.Errorf("approval %s: tutti-aaa answered %d approvals", id, len(list))
		}
		switch a := list[0]; a.State {
		case StatePending:
			continue
		case StateApproved:
			return s.sign(ctx, request, id)
		case StateDenied:
			return nil, &RefusedError{Message: fmt.Sprintf("approval %s was denied by %s: %s", id, a.Approver, a.Reason), Code: CodeApprovalDenied}
		default:
			return nil, &RefusedError{Message: fmt.Sprintf("approval %s is %s", id, a.State), Code: CodeApprovalExpired}
		}
	}
}

// PendingMessage is what a waiting user is told.
func PendingMessage(id string) string {
	return fmt.Sprintf("the request needs a second person's approval: approval id %s (an approver runs: tutti approve %s)", id, id)
}

// approvalFor is the approval id an RPC request carries, if any.
func (s *Signer) approvalFor(sent *protocol.Request) string {
	if s.approval.ID == "" || sent.Agent == protocol.DiscoveryAgent {
		return ""
	}
	return s.approval.ID
}
