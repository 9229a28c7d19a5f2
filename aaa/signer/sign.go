package signer

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/aaa/audit"
	"github.com/tuttifleet/tutti/aaa/login"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security"
	"github.com/tuttifleet/tutti/security/replay"
)

// Error codes sent as error_code next to "Request denied" (docs/signer-api.md §2),
// also the reason label of the sign metrics.
const (
	CodeMalformed      = "malformed_request"
	CodeTokenExpired   = "token_expired"
	CodeBadToken       = "bad_token"
	CodeBadSignature   = "bad_signature"
	CodeAgentMismatch  = "agent_mismatch"
	CodeNotAllowed     = "not_allowed"
	CodeCallerMismatch = "caller_mismatch"
	CodeStale          = "stale_request"
	CodeReplayed       = "replayed"
	CodeInternal       = "internal_error"
	// CodeRevoked (token_revoked) is in revocation.go.
)

// DeniedMessage is the human text of every refusal, for compatibility.
const DeniedMessage = "Request denied"

// ErrDenied matches every *Denial.
var ErrDenied = errors.New("request denied")

// Denial is a refused signing request.
type Denial struct {
	// Code is the error_code (Code* constants).
	Code string
	// Reason is the audit and log text.
	Reason string
	Err    error
	// Audited is false for requests that could not be parsed at all
	// (counted, not audited, as aaasvc does).
	Audited bool
	// ApprovalID names the approval a held request waits for
	// (CodePendingApproval).
	ApprovalID string
}

func (d *Denial) Error() string {
	if d.Err != nil {
		return fmt.Sprintf("request denied: %s: %s: %v", d.Code, d.Reason, d.Err)
	}
	return fmt.Sprintf("request denied: %s: %s", d.Code, d.Reason)
}

func (d *Denial) Unwrap() error { return d.Err }

// Is matches ErrDenied.
func (d *Denial) Is(target error) bool { return target == ErrDenied }

func deny(code string, err error, format string, args ...any) *Denial {
	return &Denial{Code: code, Reason: fmt.Sprintf(format, args...), Err: err, Audited: true}
}

// SignRequest is a decoded POST /choria/v1/sign body.
type SignRequest struct {
	Token string
	// Request is the exact choria:request:1 bytes the client sent.
	Request []byte
	// Signature is hex ed25519 over Request by the token's public_key;
	// empty for legacy bearer requests.
	Signature string
	// ApprovalID redeems an approved request (tutti's approval_id).
	ApprovalID string
}

// SignerConfig is what a Signer needs.
type SignerConfig struct {
	Tokens *login.TokenVerifier
	// Privileged signs the rewritten requests; its certificate name
	// should match the nodes' privileged patterns (docs/actionpolicy.md §6).
	Privileged security.Signer
	// MaxTTL is the largest ttl signed; default DefaultMaxTTL.
	MaxTTL time.Duration
	// AllowBearer accepts requests without proof of possession
	// (allow_bearer_tokens; legacy Ruby clients). Off by default.
	AllowBearer bool
	Auditor     audit.Auditor // nil: no audit
	Site        string
	Now         func() time.Time
	Log         *logrus.Entry
	// OnAuditError is called when the auditor fails (metrics).
	OnAuditError func(error)
	// Revocations refuses revoked tokens; nil: none are.
	Revocations Revocations
	// ChoriaServers refuses to sign unless Privileged's key is RSA
	// (choria_servers): Choria servers crash on other keys. Privileged
	// must then be able to tell (an *x509.Provider can).
	ChoriaServers bool
	// Approval holds the requests its rules name for a second person.
	Approval ApprovalConfig
}

// rsaChecker tells whether a signer's key is RSA (*x509.Provider).
type rsaChecker interface{ RequireRSA() error }

// Signer decides signing requests and signs the allowed ones.
type Signer struct {
	cfg  SignerConfig
	seen *replay.Cache // request ids, until their ttl has passed

	// verified caches tokens that passed verification, until their exp:
	// a CLI run signs many requests with one token, and a token check is
	// an ed25519 or RSA verification.
	verifiedMu sync.Mutex
	verified   map[string]*login.Claims

	approvals *approvalStore // nil: no approval rules
}

// maxVerifiedTokens bounds the verified-token cache; it is emptied when
// full.
const maxVerifiedTokens = 4096

// verifyToken verifies tok or finds it in the cache. A cached token is
// used only while now is before its exp; everything else Verify checks
// does not change with time once it passed.
func (s *Signer) verifyToken(tok string, now time.Time) (*login.Claims, error) {
	s.verifiedMu.Lock()
	c, ok := s.verified[tok]
	s.verifiedMu.Unlock()
	if ok && now.Before(c.ExpiresAt.Time) {
		return c, nil
	}
	c, err := s.cfg.Tokens.Verify(tok)
	if err != nil {
		return nil, err
	}
	s.verifiedMu.Lock()
	if len(s.verified) >= maxVerifiedTokens {
		clear(s.verified)
	}
	s.verified[tok] = c
	s.verifiedMu.Unlock()
	return c, nil
}

// NewSigner builds a Signer.
func NewSigner(cfg SignerConfig) (*Signer, error) {
	if cfg.Tokens == nil || cfg.Privileged == nil {
		return nil, errors.New("signer: a token verifier and a privileged signer are required")
	}
	if _, ok := cfg.Privileged.(rsaChecker); cfg.ChoriaServers && !ok {
		return nil, errors.New("signer: choria_servers needs a privileged signer that can tell its key type")
	}
	if cfg.MaxTTL <= 0 {
		cfg.MaxTTL = DefaultMaxTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = logrus.NewEntry(logrus.New())
	}
	if cfg.Site == "" {
		cfg.Site = DefaultSite
	}
	s := &Signer{cfg: cfg, seen: replay.New(0), verified: map[string]*login.Claims{}}
	if len(cfg.Approval.Rules) > 0 {
		var err error
		if s.approvals, err = openApprovalStore(cfg.Approval.StateDir, time.Duration(cfg.Approval.Expiry)); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// decision is what the checks established about one request.
type decision struct {
	req          *protocol.Request
	claims       *login.Claims
	action       string
	payloadAgent string
	bearer       bool
	callerID     string // the callerid that gets signed
	requested    string // the request's callerid when it differs
	signedJSON   []byte
	approval     *Approval // the approval this request redeems
}

// Sign runs the checks of docs/signer-api.md §4, audits the decision and returns
// the serialised choria:secure:request:1. Refusals are *Denial.
func (s *Signer) Sign(ctx context.Context, sr *SignRequest) ([]byte, error) {
	now := s.cfg.Now()
	req, err := protocol.DecodeRequest(sr.Request)
	if err != nil {
		return nil, &Denial{Code: CodeMalformed, Reason: "not a choria:request:1", Err: err}
	}
	d := &decision{req: req}
	var secure []byte
	denial := s.check(sr, d, now)
	if denial == nil {
		denial = s.gate(ctx, sr, d, now)
	}
	if denial == nil {
		secure, denial = s.sign(d, now)
		if denial != nil && d.approval != nil {
			s.unredeem(d.approval.ID, now)
		}
	}
	if err := s.audit(ctx, sr, d, denial, now); err != nil && denial == nil {
		// never sign what is neither in the stream nor durably spooled:
		// the request is refused and may be sent again
		s.seen.Remove(replay.StringKey(d.req.ID))
		if d.approval != nil {
			s.unredeem(d.approval.ID, now)
		}
		return nil, deny(CodeInternal, err, "request could not be audited")
	}
	if denial != nil {
		return nil, denial
	}
	return secure, nil
}

// check runs every check; it returns nil when the request may be signed.
func (s *Signer) check(sr *SignRequest, d *decision, now time.Time) *Denial {
	req := d.req
	if req.Agent == protocol.DiscoveryAgent {
		if req.Message != protocol.DiscoveryPayload {
			return deny(CodeMalformed, nil, "discovery payload must be %q", protocol.DiscoveryPayload)
		}
	} else {
		rpc, err := protocol.DecodeRPCRequest(req.PayloadBytes())
		if err != nil {
			return deny(CodeMalformed, err, "payload is not an RPC request")
		}
		d.action, d.payloadAgent = rpc.Action, rpc.Agent
	}
	claims, err := s.verifyToken(sr.Token, now)
	switch {
	case errors.Is(err, login.ErrTokenExpired):
		return deny(CodeTokenExpired, err, "token expired")
	case err != nil:
		return deny(CodeBadToken, err, "token refused")
	}
	d.claims = claims
	if den := s.checkRevoked(claims); den != nil {
		return den
	}
	if den := s.checkPossession(sr, d); den != nil {
		return den
	}
	if d.payloadAgent != "" && d.payloadAgent != req.Agent {
		return deny(CodeAgentMismatch, nil, "payload agent %q differs from envelope agent %q", d.payloadAgent, req.Agent)
	}
	if req.Agent != protocol.DiscoveryAgent {
		if err := AllowedAction(claims.Agents, req.Agent, d.action); err != nil {
			return deny(CodeNotAllowed, err, "%s#%s is not allowed for %s", req.Agent, d.action, claims.CallerID)
		}
	}
	if den := s.checkCaller(d); den != nil {
		return den
	}
	if sr.ApprovalID != "" && d.action != "" {
		return s.checkApprovedTime(req)
	}
	return s.checkTime(req, now)
}

// checkPossession verifies the ed25519 signature over the request bytes
// with the token's public_key.
func (s *Signer) checkPossession(sr *SignRequest, d *decision) *Denial {
	if sr.Signature == "" {
		if !s.cfg.AllowBearer {
			return deny(CodeBadSignature, nil, "request has no signature and bearer tokens are not allowed")
		}
		d.bearer = true
		return nil
	}
	pub, err := hex.DecodeString(d.claims.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return deny(CodeBadToken, err, "token has no usable public_key claim")
	}
	sig, err := hex.DecodeString(sr.Signature)
	if err != nil || !ed25519.Verify(pub, sr.Request, sig) {
		return deny(CodeBadSignature, err, "signature does not verify over the request with the token's public key")
	}
	return nil
}

// checkCaller decides the callerid. The request must carry the token's
// callerid (as the Choria client writes it) or its sanitised form;
// anything else is refused (docs/signer-api.md §5 vector 6). Legacy bearer clients
// cannot know the claim, so theirs is replaced and the audit says so.
func (s *Signer) checkCaller(d *decision) *Denial {
	d.callerID = SanitizeCallerID(d.claims.CallerID)
	got := d.req.CallerID
	if got == d.callerID {
		return nil
	}
	d.requested = got
	if got == d.claims.CallerID || d.bearer {
		return nil
	}
	return deny(CodeCallerMismatch, nil, "request callerid %q is not the token's %q", got, d.claims.CallerID)
}

// checkTime applies the ttl bounds and window, then the replay cache.
func (s *Signer) checkTime(req *protocol.Request, now time.Time) *Denial {
	ttl := time.Duration(req.TTL) * time.Second
	if ttl > s.cfg.MaxTTL {
		return deny(CodeStale, nil, "ttl %ds is above max_ttl %s", req.TTL, s.cfg.MaxTTL)
	}
	created := time.Unix(req.Time, 0)
	if age := now.Sub(created); -age >= ttl {
		return deny(CodeStale, nil, "request created at %d is from the future (clock skew?): %ds ahead of the signer's clock, ttl %ds",
			req.Time, req.Time-now.Unix(), req.TTL)
	} else if age >= ttl {
		return deny(CodeStale, nil, "request created at %d is too old: %ds before the signer's clock, ttl %ds",
			req.Time, now.Unix()-req.Time, req.TTL)
	}
	if s.seen.Seen(replay.StringKey(req.ID), created.Add(ttl+time.Second), now) {
		return deny(CodeReplayed, nil, "request id %s was already signed", req.ID)
	}
	return nil
}

// sign rewrites the callerid and signs with the privileged certificate.
func (s *Signer) sign(d *decision, now time.Time) ([]byte, *Denial) {
	out := *d.req
	out.CallerID = d.callerID
	if d.approval != nil {
		if err := approvedRequest(&out, d.approval, now); err != nil {
			s.seen.Remove(replay.StringKey(d.req.ID))
			return nil, deny(CodeInternal, err, "add the approval to the request")
		}
	}
	msg, err := protocol.EncodeRequest(&out)
	if err != nil {
		s.seen.Remove(replay.StringKey(d.req.ID))
		return nil, deny(CodeInternal, err, "re-encode request")
	}
	if s.cfg.ChoriaServers {
		// checked on every request: a reload may have rotated the key
		if err := s.cfg.Privileged.(rsaChecker).RequireRSA(); err != nil {
			s.seen.Remove(replay.StringKey(d.req.ID))
			return nil, deny(CodeInternal, err, "choria_servers is set and the privileged key cannot be verified by Choria servers")
		}
	}
	sig, err := s.cfg.Privileged.Sign(msg)
	if err != nil {
		s.seen.Remove(replay.StringKey(d.req.ID))
		return nil, deny(CodeInternal, err, "sign with the privileged certificate")
	}
	secure, err := protocol.EncodeSecureRequest(&protocol.SecureRequest{
		Message: msg, Signature: sig, PubCert: s.cfg.Privileged.CertificatePEM(),
	})
	if err != nil {
		s.seen.Remove(replay.StringKey(d.req.ID))
		return nil, deny(CodeInternal, err, "encode secure request")
	}
	d.signedJSON = msg
	return secure, nil
}

// audit writes the decision; a failure is logged, reported and
// returned: Sign then refuses a request it would have signed (a denial
// stays a denial).
func (s *Signer) audit(ctx context.Context, sr *SignRequest, d *decision, den *Denial, now time.Time) error {
	rec := &AuditRecord{
		Protocol: AuditProtocol, CallerID: d.req.CallerID, Action: DecisionAllow, Site: s.cfg.Site,
		Time: now.Unix(), Request: sr.Request, RequestID: d.req.ID, RequestedCallerID: d.requested,
	}
	if s.cfg.Privileged != nil {
		rec.Signer = s.cfg.Privileged.Name()
	}
	if d.claims != nil {
		rec.CallerID = d.claims.CallerID
	}
	if d.callerID != "" && den == nil {
		rec.CallerID = d.callerID
		rec.Request = d.signedJSON
	}
	if d.bearer && den == nil {
		rec.Reason = "bearer"
	}
	if den != nil {
		rec.Action, rec.Reason, rec.ErrorCode = DecisionDeny, den.Reason, den.Code
		if den.Code == CodePendingApproval {
			rec.Action, rec.ApprovalID = AuditPending, den.ApprovalID
		}
	}
	if d.approval != nil {
		rec.ApprovalID, rec.Approver = d.approval.ID, d.approval.Approver
	} else if sr.ApprovalID != "" && rec.ApprovalID == "" {
		rec.ApprovalID = sr.ApprovalID // a refused pickup
	}
	// The fields are built only when something is logged: an allowed
	// request is logged at debug level, usually off.
	log := func() *logrus.Entry {
		return s.cfg.Log.WithFields(logrus.Fields{"request_id": d.req.ID, "callerid": rec.CallerID, "agent": d.req.Agent, "action": d.action})
	}
	if den != nil {
		log().WithError(den).Info("Denied signing request")
	} else if s.cfg.Log.Logger.IsLevelEnabled(logrus.DebugLevel) {
		log().Debug("Signed request")
	}
	if s.cfg.Auditor == nil {
		return nil
	}
	// The caller's disconnect must not cancel the record of a decision
	// already taken (a remote auditor would otherwise give up on it).
	if err := s.cfg.Auditor.Audit(context.WithoutCancel(ctx), rec); err != nil {
		log().WithError(err).Error("Could not audit signing decision")
		if s.cfg.OnAuditError != nil {
			s.cfg.OnAuditError(err)
		}
		return err
	}
	return nil
}

// SanitizeCallerID applies aaasvc's rule: '@' and '.' become '_', so
// "up=bob.smith" is signed as "up=bob_smith" and existing node policies
// keep matching.
func SanitizeCallerID(c string) string {
	return callerIDReplacer.Replace(c)
}

// callerIDReplacer is built once; a Replacer is safe for concurrent use.
var callerIDReplacer = strings.NewReplacer("@", "_", ".", "_")

// AllowedAction applies the agents claim (docs/signer-api.md §3): entries are
// tried in order; "*" allows everything; an entry without exactly one
// '.' makes the whole check fail; "<agent>.*" or "<agent>.<action>"
// allow that agent. No match, or an empty list, denies.
func AllowedAction(agents []string, agent, action string) error {
	if len(agents) == 0 {
		return errors.New("the token allows no agents")
	}
	for _, entry := range agents {
		if entry == "*" {
			return nil
		}
		if err := login.ValidateACL(entry); err != nil {
			return fmt.Errorf("invalid agents claim: %w", err)
		}
		a, act, _ := strings.Cut(entry, ".")
		if a == agent && (act == "*" || act == action) {
			return nil
		}
	}
	return fmt.Errorf("no agents entry allows %s.%s", agent, action)
}
