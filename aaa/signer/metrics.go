package signer

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tuttifleet/tutti/aaa/sso/ssoconfig"
)

// Metrics are the service's Prometheus metrics, on a registry of their
// own (no global registration).
type Metrics struct {
	Registry *prometheus.Registry
	// LoginTotal counts logins by result (ok, failed, rate_limited,
	// error) and reason.
	LoginTotal   *prometheus.CounterVec
	LoginSeconds prometheus.Histogram
	// SignTotal counts signing decisions by decision (allow, deny) and
	// reason (an error code, or "ok").
	SignTotal   *prometheus.CounterVec
	SignSeconds *prometheus.HistogramVec
	// AuditErrors counts records an auditor failed to write.
	AuditErrors prometheus.Counter
	// SSO counts single sign-on logins (registered whether or not SSO
	// is on, at zero when off).
	SSO *ssoconfig.Metrics

	// the allowed series, resolved once for the hot path
	signAllowed        prometheus.Counter
	signAllowedSeconds prometheus.Observer
}

// NewMetrics registers the metrics with site as a constant label.
func NewMetrics(site string) *Metrics {
	labels := prometheus.Labels{"site": site}
	buckets := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		LoginTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tutti_aaa", Name: "login_total", Help: "Logins by result and reason",
			ConstLabels: labels}, []string{"result", "reason"}),
		LoginSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "tutti_aaa", Name: "login_seconds", Help: "Time to handle a login",
			ConstLabels: labels, Buckets: append(buckets, 2.5)}),
		SignTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tutti_aaa", Name: "sign_total", Help: "Signing decisions by decision and reason",
			ConstLabels: labels}, []string{"decision", "reason"}),
		SignSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "tutti_aaa", Name: "sign_seconds", Help: "Time to decide and sign a request",
			ConstLabels: labels, Buckets: buckets}, []string{"decision"}),
		AuditErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "tutti_aaa", Name: "audit_errors_total", Help: "Audit records that could not be written",
			ConstLabels: labels}),
		SSO: ssoconfig.NewMetrics(labels),
	}
	m.Registry.MustRegister(m.SSO.Collectors()...)
	m.Registry.MustRegister(m.LoginTotal, m.LoginSeconds, m.SignTotal, m.SignSeconds, m.AuditErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.signAllowed = m.SignTotal.WithLabelValues(DecisionAllow, "ok")
	m.signAllowedSeconds = m.SignSeconds.WithLabelValues(DecisionAllow)
	return m
}
