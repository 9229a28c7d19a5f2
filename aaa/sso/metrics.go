package sso

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tuttifleet/tutti/aaa/sso/ssoconfig"
)

// Metrics are the SSO login's Prometheus metrics (ssoconfig.Metrics).
type Metrics = ssoconfig.Metrics

// Flow labels of the login counter.
const (
	FlowDevice  = ssoconfig.FlowDevice
	FlowBrowser = ssoconfig.FlowBrowser
)

// NewMetrics builds the metrics with constant labels (the site).
func NewMetrics(constLabels prometheus.Labels) *Metrics { return ssoconfig.NewMetrics(constLabels) }

// count adds one login of flow that ended with err to m.
func count(m *Metrics, flow string, err error) {
	if m == nil {
		return
	}
	result, reason := outcome(err)
	m.LoginTotal.WithLabelValues(flow, result, reason).Inc()
}

// outcome is the result and reason labels of a login that ended with err.
func outcome(err error) (result, reason string) {
	var r *Refusal
	switch {
	case err == nil:
		return "ok", "ok"
	case errors.As(err, &r):
		return "refused", knownReason(r.Reason)
	case errors.Is(err, ErrBusy):
		return "error", "busy"
	}
	return "error", "issue"
}

// knownReason is reason when it is one of the refusal reasons of the
// package, "other" otherwise: the label stays bounded.
func knownReason(reason string) string {
	switch reason {
	case "bad_token", "nonce", "no_username", "no_groups", "no_entitlement", "second_factor",
		"provider", "bad_request", "unknown_session", "expired_session", "denied":
		return reason
	}
	return "other"
}
