package signer

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"github.com/tuttifleet/tutti/security/remote"
	"net/http"
	"strings"
	"time"

	"github.com/tuttifleet/tutti/aaa/login"
)

// ApprovalsPath is tutti's approvals endpoint (docs/signer-api.md §2):
// one POST with an operation, so that every call carries the caller's
// token and proof of possession the way a sign call does.
const ApprovalsPath = "/tutti/v1/approvals"

// Approval operations.
const (
	OpList    = "list"
	OpShow    = "show"
	OpApprove = "approve"
	OpDeny    = "deny"
)

// approvalProofSkew bounds the time of an approvals call's proof.
const approvalProofSkew = 5 * time.Minute

// ApprovalCall is the POST /tutti/v1/approvals body.
type ApprovalCall struct {
	Token string `json:"token"`
	Op    string `json:"op"`
	ID    string `json:"id,omitempty"`
	// Reason is a denial's reason (required) or an approval's note.
	Reason string `json:"reason,omitempty"`
	// Time (Unix seconds) and Signature: hex ed25519 over
	// ApprovalProof(op, id, reason, time) by the token's public_key.
	Time      int64  `json:"time"`
	Signature string `json:"signature"`
}

// ApprovalAnswer is the endpoint's answer: approvals, or an error.
type ApprovalAnswer struct {
	Approvals []Approval `json:"approvals,omitempty"`
	Error     string     `json:"error,omitempty"`
	ErrorCode string     `json:"error_code,omitempty"`
}

// ApprovalProof is the text a caller signs for an approvals call: the
// client's (security/remote), which signs it.
func ApprovalProof(op, id, reason string, t int64) []byte {
	return remote.ApprovalProof(op, id, reason, t)
}

func (s *Service) handleApprovals(w http.ResponseWriter, r *http.Request) {
	var call ApprovalCall
	if !readBody(w, r, &call) {
		return
	}
	list, den := s.signer.Approvals(r.Context(), &call)
	if den != nil {
		writeJSON(w, http.StatusOK, ApprovalAnswer{Error: den.Reason, ErrorCode: den.Code})
		return
	}
	writeJSON(w, http.StatusOK, ApprovalAnswer{Approvals: list})
}

// Approvals answers an approvals call: the caller's token and proof are
// checked, then the operation. Approvers see and decide the requests
// their approve claim covers, never their own; requesters see theirs.
func (s *Signer) Approvals(ctx context.Context, call *ApprovalCall) ([]Approval, *Denial) {
	now := s.cfg.Now()
	if s.approvals == nil {
		return nil, deny(CodeApprovalInvalid, nil, "this signer has no approval rules")
	}
	claims, den := s.checkApprovalCaller(call, now)
	if den != nil {
		s.cfg.Log.WithError(den).WithField("op", call.Op).Warn("Refused an approvals call")
		return nil, den
	}
	mayDecide := func(a *Approval) bool {
		return a.Requester != claims.CallerID && AllowedAction(claims.Approve, a.Agent, a.Action) == nil
	}
	maySee := func(a *Approval) bool { return a.Requester == claims.CallerID || mayDecide(a) }
	switch call.Op {
	case OpList:
		return s.approvals.list(now, s.auditExpired, func(a *Approval) bool {
			return a.State == ApprovalPending && maySee(a)
		}), nil
	case OpShow:
		a, err := s.approvals.get(call.ID, now, s.auditExpired)
		if err != nil || !maySee(&a) {
			return nil, deny(CodeApprovalInvalid, err, "no approval %s that %s may see", call.ID, claims.CallerID)
		}
		return []Approval{a}, nil
	case OpApprove, OpDeny:
		a, den := s.decide(ctx, call, claims, mayDecide, now)
		if den != nil {
			s.cfg.Log.WithError(den).WithFields(map[string]any{"approval_id": call.ID, "callerid": claims.CallerID}).
				Warn("Refused an approval decision")
			return nil, den
		}
		return []Approval{a}, nil
	}
	return nil, deny(CodeMalformed, nil, "unknown approvals operation %q (list, show, approve, deny)", call.Op)
}

// sweepApprovals marks expired approvals (and audits them) every
// interval until ctx ends, so that the audit shows an expiry when it
// happens rather than when the approval is next looked at.
func (s *Signer) sweepApprovals(ctx context.Context, interval time.Duration) {
	if s.approvals == nil {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.approvals.list(s.cfg.Now(), s.auditExpired, func(*Approval) bool { return false })
		}
	}
}

// checkApprovalCaller verifies the token and the proof over the call.
func (s *Signer) checkApprovalCaller(call *ApprovalCall, now time.Time) (*login.Claims, *Denial) {
	claims, err := s.verifyToken(call.Token, now)
	switch {
	case errors.Is(err, login.ErrTokenExpired):
		return nil, deny(CodeTokenExpired, err, "token expired")
	case err != nil:
		return nil, deny(CodeBadToken, err, "token refused")
	}
	if den := s.checkRevoked(claims); den != nil {
		return nil, den
	}
	pub, err := hex.DecodeString(claims.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, deny(CodeBadToken, err, "token has no usable public_key claim (approvals need proof of possession)")
	}
	sig, err := hex.DecodeString(call.Signature)
	if err != nil || !ed25519.Verify(pub, ApprovalProof(call.Op, call.ID, call.Reason, call.Time), sig) {
		return nil, deny(CodeBadSignature, err, "signature does not verify over the approvals call")
	}
	if d := now.Sub(time.Unix(call.Time, 0)); d > approvalProofSkew || -d > approvalProofSkew {
		return nil, deny(CodeStale, nil, "approvals call made at %d is more than %s from now (%d)", call.Time, approvalProofSkew, now.Unix())
	}
	return claims, nil
}

// decide approves or denies a pending approval and audits the step. The
// state is stored first; when the step cannot be audited it is put back
// to pending and the call refused: no decision without its record.
func (s *Signer) decide(ctx context.Context, call *ApprovalCall, claims *login.Claims, mayDecide func(*Approval) bool, now time.Time) (Approval, *Denial) {
	reason := strings.TrimSpace(call.Reason)
	if call.Op == OpDeny && reason == "" {
		return Approval{}, deny(CodeMalformed, nil, "a denial needs a reason")
	}
	var den *Denial
	a, err := s.approvals.transition(call.ID, now, s.auditExpired, func(a *Approval) error {
		switch {
		case a.Requester == claims.CallerID:
			den = deny(CodeNotAllowed, nil, "%s cannot approve or deny their own request", claims.CallerID)
		case !mayDecide(a):
			den = deny(CodeNotAllowed, nil, "%s may not approve %s#%s (approve claim %v)", claims.CallerID, a.Agent, a.Action, claims.Approve)
		case a.State != ApprovalPending:
			den = deny(CodeApprovalInvalid, nil, "approval %s is %s, not pending", a.ID, a.State)
		}
		if den != nil {
			return den
		}
		a.State, a.Approver, a.Reason, a.Decided = ApprovalApproved, claims.CallerID, reason, now.UTC()
		if call.Op == OpDeny {
			a.State = ApprovalDenied
		}
		return nil
	})
	switch {
	case den != nil:
		return Approval{}, den
	case errors.Is(err, errNoApproval):
		return Approval{}, deny(CodeApprovalInvalid, err, "approval %s", call.ID)
	case err != nil:
		return Approval{}, deny(CodeInternal, err, "could not store the decision on %s", call.ID)
	}
	step := AuditApproved
	if a.State == ApprovalDenied {
		step = AuditDenied
	}
	s.cfg.Log.WithFields(map[string]any{"approval_id": a.ID, "approver": a.Approver, "callerid": a.Requester}).
		Infof("Approval %s of %s#%s", a.State, a.Agent, a.Action)
	if err := s.auditApproval(ctx, step, &a, now); err != nil {
		_, rerr := s.approvals.transition(a.ID, now, nil, func(p *Approval) error {
			p.State, p.Approver, p.Reason, p.Decided = ApprovalPending, "", "", time.Time{}
			return nil
		})
		return Approval{}, deny(CodeInternal, errors.Join(err, rerr), "the decision on %s could not be audited; it stays pending", a.ID)
	}
	return a, nil
}
