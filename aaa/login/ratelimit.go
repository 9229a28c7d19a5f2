package login

import (
	"sync"
	"time"
)

// RateLimit configures the failed-login limits. Each key (user name,
// source address) has a bucket of Burst failures that refills one
// failure every Every. A key with an empty bucket is refused before any
// password is checked.
type RateLimit struct {
	UserBurst int           // default 5
	UserEvery time.Duration // default 12s (5 a minute)
	AddrBurst int           // default 20
	AddrEvery time.Duration // default 3s (20 a minute)
}

func (r RateLimit) withDefaults() RateLimit {
	if r.UserBurst <= 0 {
		r.UserBurst = 5
	}
	if r.UserEvery <= 0 {
		r.UserEvery = 12 * time.Second
	}
	if r.AddrBurst <= 0 {
		r.AddrBurst = 20
	}
	if r.AddrEvery <= 0 {
		r.AddrEvery = 3 * time.Second
	}
	return r
}

// maxBuckets bounds a limiter's memory; past it, full buckets are dropped.
const maxBuckets = 100_000

// failLimiter is a token bucket per key. Every attempt reserves a token
// before it is checked and only a successful one gets it back, so the
// bucket is spent by failures, and by attempts in flight. Its mutex
// guards a few map operations, never a password check.
type failLimiter struct {
	burst float64
	every time.Duration

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newFailLimiter(burst int, every time.Duration) *failLimiter {
	return &failLimiter{burst: float64(burst), every: every, buckets: map[string]*bucket{}}
}

// refill brings b up to now. Callers hold l.mu.
func (l *failLimiter) refill(b *bucket, now time.Time) {
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(l.burst, b.tokens+float64(el)/float64(l.every))
		b.last = now
	}
}

// reserve spends one token of key's bucket before the attempt is
// checked, so concurrent attempts cannot all pass a check made before
// any of them failed. It returns 0 when the attempt may go ahead,
// otherwise how long to wait (and spends nothing). A successful attempt
// gives its token back with refund.
func (l *failLimiter) reserve(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			l.pruneLocked(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	l.refill(b, now)
	if b.tokens < 1 {
		return max(time.Second, time.Duration((1-b.tokens)*float64(l.every)))
	}
	b.tokens--
	return 0
}

// refund gives back the token an attempt reserved: it did not fail.
func (l *failLimiter) refund(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.buckets[key]; ok {
		l.refill(b, now)
		b.tokens = min(l.burst, b.tokens+1)
	}
}

// pruneLocked drops buckets that have refilled completely: they carry no
// information. Callers hold l.mu.
func (l *failLimiter) pruneLocked(now time.Time) {
	for k, b := range l.buckets {
		l.refill(b, now)
		if b.tokens >= l.burst {
			delete(l.buckets, k)
		}
	}
}
