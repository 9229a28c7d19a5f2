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
// bucket is spent by failures. An attempt that finds no token while
// others of its key are in flight waits for them (a success gives its
// token back) instead of being refused, so concurrent logins that will
// succeed are not turned away, and concurrent guesses still reach the
// password check no more often than the bucket allows. Its mutex guards
// a few map operations, never a password check.
type failLimiter struct {
	burst float64
	every time.Duration

	mu      sync.Mutex
	buckets map[string]*bucket
	changed chan struct{} // closed and replaced when an attempt finishes
}

type bucket struct {
	tokens   float64
	last     time.Time
	inFlight int
}

// maxQueueWait bounds how long an attempt waits for others in flight.
const maxQueueWait = 5 * time.Second

func newFailLimiter(burst int, every time.Duration) *failLimiter {
	return &failLimiter{burst: float64(burst), every: every, buckets: map[string]*bucket{}, changed: make(chan struct{})}
}

// refill brings b up to now. Callers hold l.mu.
func (l *failLimiter) refill(b *bucket, now time.Time) {
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(l.burst, b.tokens+float64(el)/float64(l.every))
		b.last = now
	}
}

// reserve takes one token of key's bucket before the attempt is
// checked. It returns 0 when the attempt may go ahead (finish it with
// done), otherwise how long to wait before trying again; then nothing
// was taken.
func (l *failLimiter) reserve(key string, now func() time.Time) time.Duration {
	deadline := time.Now().Add(maxQueueWait)
	for {
		l.mu.Lock()
		b := l.bucketLocked(key, now())
		l.refill(b, now())
		if b.tokens >= 1 {
			b.tokens--
			b.inFlight++
			l.mu.Unlock()
			return 0
		}
		if b.inFlight == 0 || !time.Now().Before(deadline) {
			wait := max(time.Second, time.Duration((1-b.tokens)*float64(l.every)))
			l.mu.Unlock()
			return wait
		}
		changed := l.changed
		l.mu.Unlock()
		t := time.NewTimer(time.Until(deadline))
		select {
		case <-changed:
		case <-t.C:
		}
		t.Stop()
	}
}

func (l *failLimiter) bucketLocked(key string, now time.Time) *bucket {
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			l.pruneLocked(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	return b
}

// done finishes an attempt reserve let through: a success (ok) gives
// its token back, a failure leaves it spent. Waiting attempts of every
// key look again.
func (l *failLimiter) done(key string, now time.Time, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, found := l.buckets[key]; found {
		b.inFlight--
		if ok {
			l.refill(b, now)
			b.tokens = min(l.burst, b.tokens+1)
		}
	}
	close(l.changed)
	l.changed = make(chan struct{})
}

// pruneLocked drops buckets that have refilled completely: they carry no
// information. Callers hold l.mu.
func (l *failLimiter) pruneLocked(now time.Time) {
	for k, b := range l.buckets {
		l.refill(b, now)
		if b.tokens >= l.burst && b.inFlight == 0 {
			delete(l.buckets, k)
		}
	}
}
