package signer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security/replay"
)

// Audit actions of the approval history (AuditRecord.Action), beside
// allow and deny: the signer's audit holds every step.
const (
	AuditPending  = "pending"
	AuditApproved = "approved"
	AuditDenied   = "denied"
	AuditExpired  = "expired"
)

// PayloadApprovalKey is the member tutti-aaa adds to the RPC payload of
// a request it signs after approval: {"id","requester","approver"}.
// The payload is inside what the privileged certificate signs; Choria
// and tutti nodes ignore payload members they do not know, and tutti
// nodes write it to their audit record (approval) when the request is
// signed by a privileged certificate.
const PayloadApprovalKey = "approval"

// PayloadApproval is the approval member of an approved request's payload.
type PayloadApproval struct {
	ID        string `json:"id"`
	Requester string `json:"requester"`
	Approver  string `json:"approver"`
}

// gate holds a request that needs approval, or redeems the approval a
// request names. It runs after every other check passed.
func (s *Signer) gate(ctx context.Context, sr *SignRequest, d *decision, now time.Time) *Denial {
	if s.approvals == nil || d.action == "" {
		if sr.ApprovalID != "" {
			return deny(CodeApprovalInvalid, nil, "approval %s named but this signer holds no approvals for %s#%s", sr.ApprovalID, d.req.Agent, d.action)
		}
		return nil
	}
	if sr.ApprovalID != "" {
		return s.redeem(sr, d, now)
	}
	rule := needsApproval(s.cfg.Approval.Rules, d.req.Agent, d.action, &d.req.Filter)
	if rule == "" {
		return nil
	}
	// the request is not signed now: its id may be signed after approval
	s.seen.Remove(replay.StringKey(d.req.ID))
	rpc, err := protocol.DecodeRPCRequest(d.req.PayloadBytes())
	if err != nil {
		return deny(CodeMalformed, err, "payload is not an RPC request")
	}
	filter, err := canonicalFilter(&d.req.Filter)
	if err != nil {
		return deny(CodeMalformed, err, "filter")
	}
	a, created, err := s.approvals.hold(&Approval{
		Requester: d.claims.CallerID, Agent: d.req.Agent, Action: d.action, Collective: d.req.Collective,
		Data: rpc.Data, Filter: filter, Targets: targets(&d.req.Filter), Rule: rule, RequestID: d.req.ID,
	}, now)
	if err != nil {
		return deny(CodeInternal, err, "could not store the approval")
	}
	if created {
		s.cfg.Log.WithFields(map[string]any{"approval_id": a.ID, "callerid": a.Requester, "request_id": a.RequestID}).
			Infof("Holding %s#%s for approval (%s)", a.Agent, a.Action, rule)
	}
	den := deny(CodePendingApproval, nil, "%s; approval id %s", rule, a.ID)
	den.ApprovalID = a.ID
	return den
}

// redeem signs an approved request for its requester, once. The
// request is the held one (same id: the requester waited) or a new one
// asking for exactly the same (the requester came back later).
func (s *Signer) redeem(sr *SignRequest, d *decision, now time.Time) *Denial {
	rpc, err := protocol.DecodeRPCRequest(d.req.PayloadBytes())
	if err != nil {
		return deny(CodeMalformed, err, "payload is not an RPC request")
	}
	var den *Denial
	a, err := s.approvals.transition(sr.ApprovalID, now, s.auditExpired, func(a *Approval) error {
		switch {
		case a.Requester != d.claims.CallerID:
			den = deny(CodeApprovalInvalid, nil, "approval %s belongs to %s, not %s", a.ID, a.Requester, d.claims.CallerID)
		case a.State == ApprovalPending:
			den = deny(CodePendingApproval, nil, "approval %s is still pending", a.ID)
			den.ApprovalID = a.ID
		case a.State == ApprovalDenied:
			den = deny(CodeApprovalDenied, nil, "approval %s was denied by %s: %s", a.ID, a.Approver, a.Reason)
		case a.State == ApprovalExpired:
			den = deny(CodeApprovalExpired, nil, "approval %s expired at %s", a.ID, a.Expires.Format(time.RFC3339))
		case a.State == ApprovalSigned:
			den = deny(CodeReplayed, nil, "approval %s was already used for request %s", a.ID, a.SignedRequestID)
		default:
			if err := sameRequest(a, d.req, rpc); err != nil {
				den = deny(CodeApprovalInvalid, err, "request does not match approval %s", a.ID)
			}
		}
		if den != nil {
			return den
		}
		a.State, a.SignedRequestID = ApprovalSigned, d.req.ID
		return nil
	})
	switch {
	case den != nil:
		return den
	case errors.Is(err, errNoApproval):
		return deny(CodeApprovalInvalid, err, "approval %s", sr.ApprovalID)
	case err != nil:
		return deny(CodeInternal, err, "could not update approval %s", sr.ApprovalID)
	}
	if s.seen.Seen(replay.StringKey(d.req.ID), now.Add(time.Duration(d.req.TTL+1)*time.Second), now) {
		s.unredeem(a.ID, now)
		return deny(CodeReplayed, nil, "request id %s was already signed", d.req.ID)
	}
	d.approval = &a
	return nil
}

// unredeem returns a redeemed approval to approved when signing failed.
func (s *Signer) unredeem(id string, now time.Time) {
	_, err := s.approvals.transition(id, now, nil, func(a *Approval) error {
		a.State, a.SignedRequestID = ApprovalApproved, ""
		return nil
	})
	if err != nil {
		s.cfg.Log.WithError(err).WithField("approval_id", id).Error("Could not return the approval to approved after a failed signature")
	}
}

// approvedRequest is what gets signed for a redeemed approval: the
// request timed now (the approval took its time; its own expiry bounds
// it) with the approval in its payload.
func approvedRequest(out *protocol.Request, a *Approval, now time.Time) error {
	var payload map[string]json.RawMessage
	if err := json.Unmarshal(out.PayloadBytes(), &payload); err != nil {
		return fmt.Errorf("payload: %w", err)
	}
	pa, err := json.Marshal(PayloadApproval{ID: a.ID, Requester: a.Requester, Approver: a.Approver})
	if err != nil {
		return err
	}
	payload[PayloadApprovalKey] = pa
	msg, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	out.Message, out.Time = string(msg), now.Unix()
	return nil
}

// checkApprovedTime is checkTime for a request redeeming an approval:
// it is signed with a new time, so only its ttl is bounded here.
func (s *Signer) checkApprovedTime(req *protocol.Request) *Denial {
	if ttl := time.Duration(req.TTL) * time.Second; ttl > s.cfg.MaxTTL {
		return deny(CodeStale, nil, "ttl %ds is above max_ttl %s", req.TTL, s.cfg.MaxTTL)
	}
	return nil
}

// auditApproval writes one step of an approval's history.
func (s *Signer) auditApproval(ctx context.Context, action string, a *Approval, now time.Time) error {
	rec := &AuditRecord{
		Protocol: AuditProtocol, CallerID: a.Requester, Action: action, Site: s.cfg.Site, Time: now.Unix(),
		Request: approvalSummary(a), RequestID: a.RequestID, Reason: a.Reason, ApprovalID: a.ID, Approver: a.Approver,
	}
	if s.cfg.Privileged != nil {
		rec.Signer = s.cfg.Privileged.Name()
	}
	if s.cfg.Auditor == nil {
		return nil
	}
	if err := s.cfg.Auditor.Audit(ctx, rec); err != nil {
		s.cfg.Log.WithError(err).WithField("approval_id", a.ID).Error("Could not audit an approval step")
		if s.cfg.OnAuditError != nil {
			s.cfg.OnAuditError(err)
		}
		return err
	}
	return nil
}

// auditExpired audits an approval found expired.
func (s *Signer) auditExpired(a Approval) {
	s.cfg.Log.WithFields(map[string]any{"approval_id": a.ID, "callerid": a.Requester}).Info("Approval expired")
	_ = s.auditApproval(context.Background(), AuditExpired, &a, s.cfg.Now())
}

// approvalSummary is the request field of an approval step's record:
// what was asked, as the approver saw it.
func approvalSummary(a *Approval) json.RawMessage {
	b, err := json.Marshal(map[string]any{
		"agent": a.Agent, "action": a.Action, "collective": a.Collective, "data": a.Data, "filter": a.Filter,
		"rule": a.Rule, "created": a.Created.Unix(),
	})
	if err != nil {
		return json.RawMessage("{}")
	}
	return b
}

// isApprovalCode reports whether code is one of the approval path's
// refusals, whose reason is told to the requester.
func isApprovalCode(code string) bool {
	return code == CodeApprovalDenied || code == CodeApprovalExpired || code == CodeApprovalInvalid
}
