package server

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tuttifleet/tutti/connector/protocol"
)

// Metrics are the node's Prometheus collectors. A nil registerer gives
// metrics that count nothing (the default: metrics are off on nodes).
type Metrics struct {
	on            bool
	refusals      *prometheus.CounterVec
	requests      *prometheus.CounterVec
	results       *prometheus.CounterVec
	denials       *prometheus.CounterVec
	agentRefusals *prometheus.CounterVec
	auditErrors   prometheus.Counter
	duration      *prometheus.HistogramVec
	skews         *prometheus.HistogramVec
	queue         prometheus.Gauge
	busyDrops     *prometheus.CounterVec
	loadRefusals  *prometheus.CounterVec
	reg           prometheus.Registerer
}

// NewMetrics creates the collectors and registers them with reg (nil:
// metrics disabled).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		return &Metrics{}
	}
	m := &Metrics{
		on: true, reg: reg,
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "tutti", Subsystem: "node",
			Name: "refused_total", Help: "Requests refused before dispatch, by reason."}, []string{"reason"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "tutti", Subsystem: "node",
			Name: "requests_total", Help: "RPC requests run, by agent, action and status code."}, []string{"agent", "action", "status"}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "tutti", Subsystem: "node",
			Name: "agent_requests_total", Help: "Requests that reached an agent, by agent and result: ok, invalid (bad input), " +
				"error (the action failed) or denied (by authorization)."}, []string{"agent", "result"}),
		denials: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "tutti", Subsystem: "node",
			Name: "denied_total", Help: "Requests denied by authorization, by agent."}, []string{"agent"}),
		agentRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "tutti", Subsystem: "node",
			Name: "agent_refused_total", Help: "Requests for a loaded agent that were answered without running the action, " +
				"by agent and reason: payload (undecodable RPC payload, or a discovery request that is not a ping), " +
				"agent_mismatch (payload and envelope name different agents), unknown_action, invalid_input " +
				"(DDL validation), denied (authorization), audit (auditing required and the record could not be written)."},
			[]string{"agent", "reason"}),
		auditErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "tutti", Subsystem: "node",
			Name: "audit_errors_total", Help: "Audit records that could not be written."}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "tutti", Subsystem: "node",
			Name: "action_seconds", Help: "Time spent in agent actions.", Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)},
			[]string{"agent"}),
		skews: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "tutti", Subsystem: "node",
			Name: "request_skew_seconds", Help: "Request creation time minus this node's clock, for signed requests, " +
				"by result: accepted or refused (outside the time window, counted as ttlexpired). Normally a little below " +
				"zero (transit time and whole-second request times); far from zero, a clock is out of step.",
			// symmetric around zero: a request from the future (or a node clock behind) is positive
			Buckets: []float64{-3600, -300, -60, -30, -10, -5, -2, -1, 0, 1, 2, 5, 10, 30, 60, 300, 3600}},
			[]string{"result"}),
		queue: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "tutti", Subsystem: "node",
			Name: "queue_depth", Help: "Requests waiting for a worker (plugin.tutti.queue_size bounds it)."}),
		busyDrops: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "tutti", Subsystem: "node",
			Name: "busy_total", Help: "Requests the full request queue could not take, by reason: " +
				"queue_full (the arrival was refused: its caller had the longest queue) or displaced (the newest " +
				"request of the longest queue, pushed out by another caller's arrival). Those whose request verifies " +
				"are answered \"node busy\" and counted again in tutti_node_load_refused_total."}, []string{"reason"}),
		loadRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "tutti", Subsystem: "node",
			Name: "load_refused_total", Help: "Verified requests refused for load, by reason: queue_full (answered \"node busy\" " +
				"from the refusal lane), agent_concurrency (the agent ran its plugin.tutti.agent.<agent>.concurrency cap) or " +
				"rate_limited (the caller went over plugin.tutti.rate_limit). Discovery pings among them get no reply."},
			[]string{"reason"}),
	}
	reg.MustRegister(m.refusals, m.requests, m.results, m.denials, m.agentRefusals, m.auditErrors, m.duration, m.skews,
		m.queue, m.busyDrops, m.loadRefusals)
	return m
}

// skew records a signed request's creation time minus the node's clock.
func (m *Metrics) skew(d time.Duration, accepted bool) {
	if m.on {
		result := "refused"
		if accepted {
			result = "accepted"
		}
		m.skews.WithLabelValues(result).Observe(d.Seconds())
	}
}

func (m *Metrics) queueDepth(n int) {
	if m.on {
		m.queue.Set(float64(n))
	}
}

func (m *Metrics) busy(reason busyReason) {
	if m.on {
		m.busyDrops.WithLabelValues(string(reason)).Inc()
	}
}

func (m *Metrics) loadRefused(reason loadReason) {
	if m.on {
		m.loadRefusals.WithLabelValues(string(reason)).Inc()
	}
}

// watchCallers registers the per-caller rate gauge of rates (once per
// registry: a second node on the same registry is not added).
func (m *Metrics) watchCallers(rates *callerRates, now func() time.Time) {
	if m.on {
		_ = m.reg.Register(newCallerRateCollector(rates, now))
	}
}

func (m *Metrics) refused(kind protocol.Kind) {
	if m.on {
		m.refusals.WithLabelValues(string(kind)).Inc()
	}
}

// Reasons of tutti_node_agent_refused_total.
const (
	refusedPayload       = "payload"
	refusedAgentMismatch = "agent_mismatch"
	refusedUnknownAction = "unknown_action"
	refusedInvalidInput  = "invalid_input"
	refusedDenied        = "denied"
	refusedAudit         = "audit"
)

// agentRefused counts a request for a loaded agent that did not reach
// its action. agent is always the name of a loaded agent (or
// "discovery"), never an arbitrary name from a request, so the label's
// values stay bounded; requests for unknown agents are counted by
// refused() with reason "agent".
func (m *Metrics) agentRefused(agent, reason string) {
	if m.on {
		m.agentRefusals.WithLabelValues(agent, reason).Inc()
	}
}

func (m *Metrics) denied(agent string) {
	if m.on {
		m.denials.WithLabelValues(agent).Inc()
		m.results.WithLabelValues(agent, "denied").Inc()
	}
}

func (m *Metrics) auditError() {
	if m.on {
		m.auditErrors.Inc()
	}
}

func (m *Metrics) observe(agent, action string, code protocol.StatusCode, d time.Duration) {
	if m.on {
		m.requests.WithLabelValues(agent, action, strconv.Itoa(int(code))).Inc()
		m.results.WithLabelValues(agent, resultOf(code)).Inc()
		m.duration.WithLabelValues(agent).Observe(d.Seconds())
	}
}

func resultOf(code protocol.StatusCode) string {
	switch code {
	case protocol.OK:
		return "ok"
	case protocol.MissingData, protocol.InvalidData:
		return "invalid"
	}
	return "error"
}
