package daemon

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/agents"
	"github.com/tuttifleet/tutti/server"
	"github.com/tuttifleet/tutti/server/broker"
	"github.com/tuttifleet/tutti/server/version"
)

// MetricsPath is where Prometheus scrapes; HealthPath answers 200 "ok".
const (
	MetricsPath = "/metrics"
	HealthPath  = "/healthz"
)

// daemonMetrics are the counters the daemon itself keeps (the request
// pipeline's are server.Metrics).
type daemonMetrics struct {
	reloads       *prometheus.CounterVec
	registrations *prometheus.CounterVec
}

func (m *daemonMetrics) reloaded(err error) {
	if m != nil {
		m.reloads.WithLabelValues(result(err)).Inc()
	}
}

func (m *daemonMetrics) registered(err error) {
	if m != nil {
		m.registrations.WithLabelValues(result(err)).Inc()
	}
}

func result(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

// connStats is implemented by connectors that report their state
// (connector/nats.Conn).
type connStats interface {
	Stats() (reconnects uint64, connected bool)
}

// newProcessRegistry is a registry with the Go runtime, process and
// build collectors every tutti daemon exports.
func newProcessRegistry(component string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "tutti", Name: "build_info",
			Help:        "Always 1; the labels name the version and the daemon.",
			ConstLabels: prometheus.Labels{"version": version.Version, "component": component}},
			func() float64 { return 1 }))
	return reg
}

// registerNodeMetrics creates the node's registry: the pipeline metrics
// (server.Metrics), the node's request counters, the broker connection's
// state and reconnects, and the daemon's reload and registration counts.
func (d *Node) registerNodeMetrics() *prometheus.Registry {
	reg := newProcessRegistry("node")
	d.Node.SetMetrics(server.NewMetrics(reg))
	stat := func(name, help string, get func(s agents.Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "tutti", Subsystem: "node", Name: name, Help: help},
			func() float64 { return float64(get(d.Node.Stats())) })
	}
	reg.MustRegister(
		stat("messages_total", "Messages received on the node's subscriptions.", func(s agents.Stats) uint64 { return s.Total }),
		stat("validated_total", "Messages that passed decoding, signature, ttl and replay checks.", func(s agents.Stats) uint64 { return s.Validated }),
		stat("unvalidated_total", "Messages refused before dispatch (see tutti_node_refused_total for reasons).", func(s agents.Stats) uint64 { return s.Unvalidated }),
		stat("filtered_total", "Valid requests whose filter did not select this node.", func(s agents.Stats) uint64 { return s.Filtered }),
		stat("replies_total", "Replies published.", func(s agents.Stats) uint64 { return s.Replies }),
	)
	if cs, ok := d.Conn.(connStats); ok {
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "tutti", Subsystem: "connector", Name: "connected",
				Help: "1 while connected to a broker, 0 otherwise."}, func() float64 {
				if _, up := cs.Stats(); up {
					return 1
				}
				return 0
			}),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "tutti", Subsystem: "connector", Name: "reconnects_total",
				Help: "Reconnections to a broker since start."}, func() float64 {
				n, _ := cs.Stats()
				return float64(n)
			}),
		)
	}
	if d.stream != nil {
		reg.MustRegister(d.stream.spool.Collectors("node")...)
	}
	d.metrics = newReloadMetrics(reg)
	d.metrics.registrations = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "tutti", Subsystem: "daemon",
		Name: "registrations_total", Help: "Registration messages published, by result."}, []string{"result"})
	reg.MustRegister(d.metrics.registrations)
	return reg
}

// newReloadMetrics registers tutti_daemon_reloads_total (node and broker).
func newReloadMetrics(reg prometheus.Registerer) *daemonMetrics {
	m := &daemonMetrics{reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "tutti", Subsystem: "daemon",
		Name: "reloads_total", Help: "SIGHUP reloads, by result (error: refused or incomplete)."}, []string{"result"})}
	reg.MustRegister(m.reloads)
	return m
}

// brokerCollector exports the embedded broker's counters from Varz and
// its authorization refusals.
type brokerCollector struct {
	srv     *natsserver.Server
	denials *broker.Denials
	descs   map[string]*prometheus.Desc
	denied  *prometheus.Desc
	refused *prometheus.Desc
}

func newBrokerCollector(b *broker.Broker) *brokerCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName("tutti", "broker", name), help, nil, nil)
	}
	return &brokerCollector{srv: b.Server(), denials: b.Denials(),
		denied: prometheus.NewDesc("tutti_broker_permission_denied_total",
			"Publishes and subscribes the broker refused, by operation and the certificate's role.", []string{"operation", "role"}, nil),
		refused: prometheus.NewDesc("tutti_broker_connections_refused_total",
			"Client connections refused by the broker's authorization, by reason.", []string{"reason"}, nil),
		descs: map[string]*prometheus.Desc{
			"connections":       d("connections", "Client connections now."),
			"total_connections": d("connections_total", "Client connections accepted since start."),
			"routes":            d("routes", "Cluster routes now."),
			"leafnodes":         d("leafnodes", "Leafnode links now, either direction (0 on a leaf: the link to its hub is down)."),
			"gateways":          d("gateways", "Outbound gateway links now."),
			"subscriptions":     d("subscriptions", "Subscriptions now."),
			"in_msgs":           d("in_messages_total", "Messages received from clients and routes."),
			"out_msgs":          d("out_messages_total", "Messages delivered."),
			"in_bytes":          d("in_bytes_total", "Bytes received."),
			"out_bytes":         d("out_bytes_total", "Bytes delivered."),
			"slow_consumers":    d("slow_consumers_total", "Clients disconnected for not reading fast enough."),
		}}
}

// Describe implements prometheus.Collector.
func (c *brokerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
	ch <- c.denied
	ch <- c.refused
}

// Collect implements prometheus.Collector.
func (c *brokerCollector) Collect(ch chan<- prometheus.Metric) {
	v, err := c.srv.Varz(nil)
	if err != nil {
		return
	}
	g := func(k string, f float64) { ch <- prometheus.MustNewConstMetric(c.descs[k], prometheus.GaugeValue, f) }
	cnt := func(k string, f float64) { ch <- prometheus.MustNewConstMetric(c.descs[k], prometheus.CounterValue, f) }
	g("connections", float64(v.Connections))
	cnt("total_connections", float64(v.TotalConnections))
	g("routes", float64(v.Routes))
	g("leafnodes", float64(v.Leafs))
	g("gateways", float64(c.srv.NumOutboundGateways()))
	g("subscriptions", float64(v.Subscriptions))
	cnt("in_msgs", float64(v.InMsgs))
	cnt("out_msgs", float64(v.OutMsgs))
	cnt("in_bytes", float64(v.InBytes))
	cnt("out_bytes", float64(v.OutBytes))
	cnt("slow_consumers", float64(v.SlowConsumers))
	for k, n := range c.denials.Denied() {
		ch <- prometheus.MustNewConstMetric(c.denied, prometheus.CounterValue, float64(n), k.Operation, string(k.Role))
	}
	for reason, n := range c.denials.Refused() {
		ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(n), reason)
	}
}

var _ prometheus.Collector = (*brokerCollector)(nil)

// MetricsServer serves /metrics and /healthz over plain HTTP. Bind it to
// loopback or a management network: it has no authentication.
type MetricsServer struct {
	srv *http.Server
	ln  net.Listener
}

// ServeMetrics listens on addr (host:port; port 0 picks one) and serves
// reg until Close.
func ServeMetrics(addr string, reg *prometheus.Registry, l *logrus.Entry) (*MetricsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle(MetricsPath, promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: l}))
	mux.HandleFunc(HealthPath, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	m := &MetricsServer{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second,
		ErrorLog: log.New(l.WriterLevel(logrus.WarnLevel), "", 0)}}
	go func() {
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			l.WithError(err).Error("metrics server stopped")
		}
	}()
	l.WithField("url", "http://"+ln.Addr().String()+MetricsPath).Info("serving Prometheus metrics")
	return m, nil
}

// Addr is the address the server listens on.
func (m *MetricsServer) Addr() net.Addr { return m.ln.Addr() }

// Close stops the server.
func (m *MetricsServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return m.srv.Shutdown(ctx)
}
