package signer

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/tuttifleet/tutti/aaa/login"
)

// API paths (docs/signer-api.md §2).
const (
	LoginPath  = "/choria/v1/login"
	SignPath   = "/choria/v1/sign"
	HealthPath = "/healthz"
)

// maxBody caps a request body. A sign request is a ≤100 KiB request
// (base64) plus a token.
const maxBody = 1 << 20

// apiError is aaasvc's (go-swagger's) error body for protocol-level
// failures.
type apiError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// readBody enforces the method, content type and size rules of docs/signer-api.md
// §2 and decodes the JSON body into v. It writes the error response
// itself and reports false when the handler must stop.
func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	bp, ok := readPost(w, r)
	if !ok {
		return false
	}
	defer putBuf(bp)
	return decodeBody(w, *bp, v)
}

// readPost enforces the method, content type and size rules of docs/signer-api.md
// §2 and returns the non-blank body in a pooled buffer (release it
// with putBuf). It writes the error response itself and reports false
// when the handler must stop.
func readPost(w http.ResponseWriter, r *http.Request) (*[]byte, bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, apiError{http.StatusMethodNotAllowed,
			fmt.Sprintf("method %s is not allowed, but [POST] are", r.Method)})
		return nil, false
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			writeJSON(w, http.StatusUnsupportedMediaType, apiError{http.StatusUnsupportedMediaType,
				fmt.Sprintf("unsupported media type %q, only [application/json] are allowed", ct)})
			return nil, false
		}
	}
	bp := getBuf()
	body, err := readAllInto((*bp)[:0], http.MaxBytesReader(w, r.Body, maxBody), r.ContentLength)
	*bp = body
	if err != nil {
		putBuf(bp)
		writeJSON(w, http.StatusBadRequest, apiError{http.StatusBadRequest,
			fmt.Sprintf("parsing request body from \"\" failed, because %v", err)})
		return nil, false
	}
	if isBlank(body) {
		putBuf(bp)
		writeJSON(w, http.StatusUnprocessableEntity, apiError{602, "request in body is required"})
		return nil, false
	}
	return bp, true
}

// decodeBody decodes a JSON body into v, answering 400 when it is not.
func decodeBody(w http.ResponseWriter, body []byte, v any) bool {
	if err := json.Unmarshal(body, v); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{http.StatusBadRequest,
			fmt.Sprintf("parsing request body from \"\" failed, because %v", err)})
		return false
	}
	return true
}

// notImplemented answers for an endpoint this deployment does not run.
func notImplemented(op string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotImplemented, "operation "+op+" has not yet been implemented")
	}
}

func (s *Service) handleLogin(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var req login.Request
	if !readBody(w, r, &req) {
		return
	}
	source, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		source = r.RemoteAddr
	}
	tok, err := s.auth.Login(&req, source)
	defer func() { s.metrics.LoginSeconds.Observe(time.Since(start).Seconds()) }()
	log := s.log.WithFields(map[string]any{"user": req.Username, "source": source})

	var rl *login.RateLimitedError
	var f *login.Failure
	var sf *login.SecondFactorRequired
	switch {
	case err == nil:
		s.metrics.LoginTotal.WithLabelValues("ok", "").Inc()
		log.Info("Login succeeded")
		writeJSON(w, http.StatusOK, map[string]string{"token": tok})
	case errors.As(err, &rl):
		s.metrics.LoginTotal.WithLabelValues("rate_limited", rl.Key).Inc()
		log.WithError(err).Warn("Login rate limited")
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(rl.RetryAfter.Seconds()))))
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": login.ErrLoginFailed.Error()})
	case errors.As(err, &sf):
		// tutti: the password was right; the client asks for the code
		// and logs in again with it (docs/signer-api.md §2).
		s.metrics.LoginTotal.WithLabelValues("second_factor", sf.Kind).Inc()
		log.Info("Login needs a one-time code")
		writeJSON(w, http.StatusOK, map[string]string{"error": login.ErrSecondFactor.Error(), "second_factor": sf.Kind})
	case errors.As(err, &f):
		s.metrics.LoginTotal.WithLabelValues("failed", f.Reason).Inc()
		log.WithError(err).Warn("Login failed")
		writeJSON(w, http.StatusOK, map[string]string{"error": login.ErrLoginFailed.Error()})
	default:
		s.metrics.LoginTotal.WithLabelValues("error", "issue").Inc()
		log.WithError(err).Error("Could not issue a token")
		writeJSON(w, http.StatusOK, map[string]string{"error": login.ErrIssue.Error()})
	}
}

// signBody is the POST /choria/v1/sign body.
type signBody struct {
	Token     string `json:"token"`
	Request   string `json:"request"`
	Signature string `json:"signature"`
	// ApprovalID (tutti) redeems an approved request.
	ApprovalID string `json:"approval_id"`
}

// decodeRequestB64 decodes standard base64. The decoder skips the MIME
// line breaks (\r, \n) the Ruby client inserts.
func decodeRequestB64(s string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(s)
}

func (s *Service) handleSign(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	bp, ok := readPost(w, r)
	if !ok {
		return
	}
	var body signBody
	if !parseSignBody(*bp, &body) && !decodeBody(w, *bp, &body) {
		putBuf(bp)
		return
	}
	putBuf(bp) // body holds copies
	reqBytes, err := decodeRequestB64(body.Request)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{http.StatusBadRequest,
			fmt.Sprintf("parsing request body from \"\" failed, because request is not base64: %v", err)})
		return
	}
	secure, err := s.signer.Sign(r.Context(), &SignRequest{Token: body.Token, Request: reqBytes, Signature: body.Signature, ApprovalID: body.ApprovalID})
	if err == nil {
		s.metrics.signAllowed.Inc()
		s.metrics.signAllowedSeconds.Observe(time.Since(start).Seconds())
		writeSecureAnswer(w, secure)
		return
	}
	reason := CodeInternal
	var den *Denial
	if errors.As(err, &den) {
		reason = den.Code
	}
	if den != nil && den.ApprovalID != "" {
		s.metrics.SignTotal.WithLabelValues(AuditPending, reason).Inc()
		writeJSON(w, http.StatusOK, map[string]string{"error": PendingMessage, "error_code": reason, "approval_id": den.ApprovalID})
		return
	}
	s.metrics.SignTotal.WithLabelValues(DecisionDeny, reason).Inc()
	s.metrics.SignSeconds.WithLabelValues(DecisionDeny).Observe(time.Since(start).Seconds())
	msg := DeniedMessage
	if den != nil && isApprovalCode(den.Code) {
		msg = DeniedMessage + ": " + den.Reason // the requester's own approval: its decision and reason
	}
	writeJSON(w, http.StatusOK, map[string]string{"error": msg, "error_code": reason})
}

// Handler is the API: login, sign (or 501 when not enabled), health, and
// JSON 404s for anything else.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	if s.auth != nil {
		mux.HandleFunc(LoginPath, s.handleLogin)
	} else {
		mux.HandleFunc(LoginPath, notImplemented("PostLogin"))
	}
	if s.signer != nil {
		mux.HandleFunc(SignPath, s.handleSign)
		mux.HandleFunc(ApprovalsPath, s.handleApprovals)
	} else {
		mux.HandleFunc(SignPath, notImplemented("PostSign"))
	}
	if s.sso != nil {
		s.sso.Register(mux)
	}
	mux.HandleFunc(HealthPath, s.handleHealth)
	mux.HandleFunc(SwaggerPath, handleSwagger)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, apiError{http.StatusNotFound, fmt.Sprintf("path %s was not found", r.URL.Path)})
	})
	return mux
}

func (s *Service) handleHealth(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
