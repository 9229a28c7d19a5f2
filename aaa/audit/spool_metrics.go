package audit

import "github.com/prometheus/client_golang/prometheus"

// Collectors returns the spool's metrics, named
// tutti_<subsystem>_audit_spool_*: records spooled, delivered, refused
// (full) and failed (disk), failed delivery attempts, undelivered bytes,
// and a full flag (1 while records are refused as over the limit).
func (s *Spool) Collectors(subsystem string) []prometheus.Collector {
	counter := func(name, help string, get func(SpoolStats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "tutti", Subsystem: subsystem,
			Name: "audit_spool_" + name, Help: help}, func() float64 { return float64(get(s.Stats())) })
	}
	gauge := func(name, help string, get func(SpoolStats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "tutti", Subsystem: subsystem,
			Name: "audit_spool_" + name, Help: help}, func() float64 { return get(s.Stats()) })
	}
	return []prometheus.Collector{
		counter("spooled_total", "Audit records written and fsynced to the spool.", func(st SpoolStats) uint64 { return st.Spooled }),
		counter("delivered_total", "Audit records acknowledged by the stream and removed from the spool.", func(st SpoolStats) uint64 { return st.Delivered }),
		counter("refused_total", "Audit records refused because the spool was full.", func(st SpoolStats) uint64 { return st.Refused }),
		counter("write_errors_total", "Audit records refused because the spool write or fsync failed.", func(st SpoolStats) uint64 { return st.WriteErrors }),
		counter("publish_errors_total", "Failed delivery attempts to the stream (each retried).", func(st SpoolStats) uint64 { return st.PublishErrors }),
		counter("read_back_bytes_total", "Undelivered audit record bytes read back from the spool's files: delivery behind what it keeps in memory.", func(st SpoolStats) uint64 { return st.ReadBack }),
		gauge("pending_bytes", "Undelivered audit record bytes in the spool.", func(st SpoolStats) float64 { return float64(st.PendingBytes) }),
		gauge("full", "1 while the spool refuses records as over its limit.", func(st SpoolStats) float64 {
			if st.Full {
				return 1
			}
			return 0
		}),
	}
}
