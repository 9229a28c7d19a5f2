package ssoconfig

import "github.com/prometheus/client_golang/prometheus"

// Flow labels of the login counter: the device flow (RFC 8628) and the
// browser's authorization code flow with PKCE.
const (
	FlowDevice  = "device"
	FlowBrowser = "browser"
)

// Metrics are the SSO login's Prometheus metrics. The caller registers
// Collectors with its registry; a nil *Metrics counts nothing.
type Metrics struct {
	// LoginTotal counts finished SSO logins by flow (device, browser),
	// result (ok, refused, error) and reason: "ok", a refusal's reason,
	// "busy" (too many sign-ins in progress) or "issue" (no token could
	// be signed).
	LoginTotal *prometheus.CounterVec
}

// NewMetrics builds the metrics with constant labels (the site).
func NewMetrics(constLabels prometheus.Labels) *Metrics {
	m := &Metrics{LoginTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "tutti_aaa", Name: "sso_login_total", Help: "SSO logins by flow, result and reason",
		ConstLabels: constLabels}, []string{"flow", "result", "reason"})}
	for _, f := range []string{FlowDevice, FlowBrowser} {
		m.LoginTotal.WithLabelValues(f, "ok", "ok") // present at zero
	}
	return m
}

// Collectors are what to register.
func (m *Metrics) Collectors() []prometheus.Collector { return []prometheus.Collector{m.LoginTotal} }
