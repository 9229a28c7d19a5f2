package sso

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/aaa/login"
)

// API paths (docs/central-aaa.md "Single sign-on"); tutti additions,
// not part of the aaasvc API.
const (
	DevicePath    = "/tutti/v1/sso/device"
	PollPath      = "/tutti/v1/sso/poll"
	AuthorizePath = "/tutti/v1/sso/authorize"
	ExchangePath  = "/tutti/v1/sso/exchange"
)

// maxBody caps a request body of the SSO API.
const maxBody = 16 << 10

// StartRequest is the body of DevicePath and AuthorizePath.
type StartRequest struct {
	// PublicKey is hex of the CLI's fresh ed25519 public key; the token
	// is bound to it, as for a password login.
	PublicKey string `json:"public_key"`
	// RedirectURI, CodeChallenge and CodeChallengeMethod ("S256"): code
	// flow only.
	RedirectURI         string `json:"redirect_uri,omitempty"`
	CodeChallenge       string `json:"code_challenge,omitempty"`
	CodeChallengeMethod string `json:"code_challenge_method,omitempty"`
}

// FinishRequest is the body of PollPath (Session only) and ExchangePath.
type FinishRequest struct {
	Session      string `json:"session"`
	State        string `json:"state,omitempty"`
	Code         string `json:"code,omitempty"`
	CodeVerifier string `json:"code_verifier,omitempty"`
}

// Answer is the body of a poll's or exchange's answer, and of every
// refusal (a start that succeeds answers a DeviceStart or CodeStart):
// token on success, status "pending" while a device sign-in is not
// done, error (for the user) and reason on a refusal.
type Answer struct {
	Token  string `json:"token,omitempty"`
	Status string `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Register adds the SSO endpoints to mux.
func (a *Authenticator) Register(mux *http.ServeMux) {
	mux.HandleFunc(DevicePath, a.handleDevice)
	mux.HandleFunc(PollPath, a.handlePoll)
	mux.HandleFunc(AuthorizePath, a.handleAuthorize)
	mux.HandleFunc(ExchangePath, a.handleExchange)
}

func write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeErr maps err to a status: 403 for a refusal of the user, 400 for
// a bad request, 404 for an unknown session, 502 when the provider
// failed, 503 when busy, 500 when no token could be signed.
func writeErr(w http.ResponseWriter, err error) {
	var r *Refusal
	switch {
	case errors.As(err, &r):
		status := http.StatusForbidden
		switch r.Reason {
		case "bad_request":
			status = http.StatusBadRequest
		case "unknown_session":
			status = http.StatusNotFound
		case "provider":
			status = http.StatusBadGateway
		}
		write(w, status, Answer{Error: r.Message, Reason: r.Reason})
	case errors.Is(err, ErrBusy):
		w.Header().Set("Retry-After", "30")
		write(w, http.StatusServiceUnavailable, Answer{Error: err.Error(), Reason: "busy"})
	default:
		write(w, http.StatusInternalServerError, Answer{Error: login.ErrIssue.Error(), Reason: "issue"})
	}
}

// read decodes a POSTed JSON body into v, or answers and reports false.
func read(w http.ResponseWriter, r *http.Request, v any) bool {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		write(w, http.StatusMethodNotAllowed, Answer{Error: "use POST", Reason: "bad_request"})
		return false
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		write(w, http.StatusUnsupportedMediaType, Answer{Error: "the body must be application/json", Reason: "bad_request"})
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		write(w, http.StatusBadRequest, Answer{Error: fmt.Sprintf("bad body: %v", err), Reason: "bad_request"})
		return false
	}
	return true
}

func source(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

func publicKey(hexKey string) (ed25519.PublicKey, error) {
	b, err := hex.DecodeString(hexKey)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, refuse("bad_request", fmt.Sprintf("public_key must be %d hex bytes", ed25519.PublicKeySize), err)
	}
	return b, nil
}

func (a *Authenticator) handleDevice(w http.ResponseWriter, r *http.Request) {
	var req StartRequest
	if !read(w, r, &req) {
		return
	}
	pub, err := publicKey(req.PublicKey)
	if err != nil {
		a.logOutcome(FlowDevice, source(r), nil, err)
		writeErr(w, err)
		return
	}
	ds, err := a.StartDevice(r.Context(), pub, source(r))
	if err != nil {
		a.logOutcome(FlowDevice, source(r), nil, err)
		writeErr(w, err)
		return
	}
	a.log.WithField("source", source(r)).Info("SSO device sign-in started")
	write(w, http.StatusOK, ds)
}

func (a *Authenticator) handlePoll(w http.ResponseWriter, r *http.Request) {
	var req FinishRequest
	if !read(w, r, &req) {
		return
	}
	tok, err := a.Poll(req.Session)
	switch {
	case err != nil:
		writeErr(w, err)
	case tok == "":
		write(w, http.StatusOK, Answer{Status: "pending"})
	default:
		write(w, http.StatusOK, Answer{Token: tok})
	}
}

func (a *Authenticator) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	var req StartRequest
	if !read(w, r, &req) {
		return
	}
	pub, err := publicKey(req.PublicKey)
	if err != nil {
		a.logOutcome(FlowBrowser, source(r), nil, err)
		writeErr(w, err)
		return
	}
	cs, err := a.StartCode(r.Context(), pub, source(r), req.RedirectURI, req.CodeChallenge, req.CodeChallengeMethod)
	if err != nil {
		a.logOutcome(FlowBrowser, source(r), nil, err)
		writeErr(w, err)
		return
	}
	write(w, http.StatusOK, cs)
}

func (a *Authenticator) handleExchange(w http.ResponseWriter, r *http.Request) {
	var req FinishRequest
	if !read(w, r, &req) {
		return
	}
	tok, _, err := a.Exchange(r.Context(), req.Session, req.State, req.Code, req.CodeVerifier)
	if err != nil {
		writeErr(w, err)
		return
	}
	write(w, http.StatusOK, Answer{Token: tok})
}

// logOutcome logs a finished sign-in with who it concerns, and counts
// it.
func (a *Authenticator) logOutcome(flow, src string, id *Identity, err error) {
	count(a.metrics, flow, err)
	log := a.log.WithFields(logrus.Fields{"flow": flow, "source": src, "issuer": a.cfg.Issuer})
	if id != nil {
		log = log.WithFields(logrus.Fields{"user": id.Username, "sub": id.Subject, "groups": id.Groups, "amr": id.AMR})
	}
	var r *Refusal
	switch {
	case err == nil:
		log.Info("SSO login succeeded")
	case errors.As(err, &r):
		log.WithError(err).WithField("reason", r.Reason).Warn("SSO login refused")
	default:
		log.WithError(err).Error("SSO login failed")
	}
}
