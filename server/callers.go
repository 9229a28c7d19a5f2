package server

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// callerRates tracks the request rate of each verified caller, for the
// per-caller rate limit (plugin.tutti.rate_limit, off by default) and
// the metric tutti_node_caller_requests_per_second.
//
// A caller counts once it passed verification, the time window, the
// replay cache and the filter: forged caller ids never get an entry.
// At most maxTrackedCallers are tracked; when that many are, the idle
// ones (nothing in the last two windows) are forgotten (one scan a
// second at most), and meanwhile new callers share one entry (the ""
// caller), so a holder of many certificates can grow neither the
// node's memory nor its work per request.
//
// The metric has one series per caller for the topCallers busiest
// callers of the last complete rateWindow only, so its label values
// stay bounded whatever the number of callers.
type callerRates struct {
	mu        sync.Mutex
	callers   map[string]*callerRate
	lastEvict time.Time // evictIdle scans every caller: at most once a second
}

type callerRate struct {
	window      time.Time // start of the current window
	cur, prev   int       // requests in the current and last window
	bucket      *rate.Limiter
	limit       rate.Limit
	bucketBurst int
}

const (
	maxTrackedCallers = 4096
	topCallers        = 10
	rateWindow        = 10 * time.Second
)

// allow counts one request of caller at now and reports whether its
// token bucket (limit per second, burst; limit <= 0: none) has a token.
func (c *callerRates) allow(caller string, now time.Time, limit float64, burst int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.callers == nil {
		c.callers = map[string]*callerRate{}
	}
	r := c.callers[caller]
	if r == nil {
		if len(c.callers) >= maxTrackedCallers && !c.evictIdle(now) {
			caller = ""
			r = c.callers[caller]
		}
		if r == nil {
			r = &callerRate{window: now.Truncate(rateWindow)}
			c.callers[caller] = r
		}
	}
	r.count(now)
	if limit <= 0 {
		r.bucket = nil
		return true
	}
	if burst <= 0 {
		burst = max(1, int(2*limit))
	}
	if r.bucket == nil || r.limit != rate.Limit(limit) || r.bucketBurst != burst {
		r.bucket, r.limit, r.bucketBurst = rate.NewLimiter(rate.Limit(limit), burst), rate.Limit(limit), burst
	}
	return r.bucket.AllowN(now, 1)
}

// count adds one request at now to r's windows.
func (r *callerRate) count(now time.Time) {
	r.roll(now)
	r.cur++
}

// roll moves r's windows on to the one now falls in.
func (r *callerRate) roll(now time.Time) {
	switch w := now.Truncate(rateWindow); {
	case !w.After(r.window):
	case w.Sub(r.window) == rateWindow:
		r.window, r.prev, r.cur = w, r.cur, 0
	default:
		r.window, r.prev, r.cur = w, 0, 0
	}
}

// evictIdle forgets the callers with no request in the last two
// windows and whose bucket is full again; it reports whether any went.
func (c *callerRates) evictIdle(now time.Time) bool {
	if now.Sub(c.lastEvict) < time.Second {
		return false
	}
	c.lastEvict = now
	n := len(c.callers)
	for id, r := range c.callers {
		r.roll(now)
		if r.cur == 0 && r.prev == 0 && (r.bucket == nil || r.bucket.TokensAt(now) >= float64(r.bucketBurst)) {
			delete(c.callers, id)
		}
	}
	return len(c.callers) < n
}

// callerRateStat is one caller's rate in the last complete window.
type callerRateStat struct {
	caller string
	rate   float64
}

// top returns the busiest callers of the last complete window, at most
// k, busiest first.
func (c *callerRates) top(now time.Time, k int) []callerRateStat {
	c.mu.Lock()
	var out []callerRateStat
	for id, r := range c.callers {
		r.roll(now)
		if r.prev > 0 {
			out = append(out, callerRateStat{caller: id, rate: float64(r.prev) / rateWindow.Seconds()})
		}
	}
	c.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].rate != out[j].rate {
			return out[i].rate > out[j].rate
		}
		return out[i].caller < out[j].caller
	})
	if len(out) > k {
		out = out[:k]
	}
	return out
}

// callerRateCollector exposes the busiest callers' rates at scrape time.
type callerRateCollector struct {
	rates *callerRates
	now   func() time.Time
	desc  *prometheus.Desc
}

func newCallerRateCollector(rates *callerRates, now func() time.Time) *callerRateCollector {
	return &callerRateCollector{rates: rates, now: now, desc: prometheus.NewDesc("tutti_node_caller_requests_per_second",
		fmt.Sprintf("Requests per second of the %d busiest verified callers over the last complete %s window "+
			"(only those %d have a series; \"\" is callers beyond the %d tracked).", topCallers, rateWindow, topCallers, maxTrackedCallers),
		[]string{"caller"}, nil)}
}

func (c *callerRateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *callerRateCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.rates.top(c.now(), topCallers) {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, s.rate, s.caller)
	}
}

var _ prometheus.Collector = (*callerRateCollector)(nil)
