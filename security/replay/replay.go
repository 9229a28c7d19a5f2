// Package replay remembers the requests a node has accepted so the same
// request cannot run twice within its validity (docs/protocol.md §9.3, W3).
//
// A node keys a request by RequestKey: SHA-256 of the verified caller id
// and the request id. The same id from the same caller is refused again
// even when it was re-signed with a new time (which changes the signed
// bytes but not the request); the signed bytes themselves are not kept,
// because the same bytes carry the same caller and id and so hit the same
// key. Each key is kept until the time the request stops being acceptable
// anyway (time + ttl + 1 s), so the cache only needs to cover the TTL
// window. Memory is bounded by a maximum entry count.
//
// The AAA service uses the same cache for login bodies and signing
// request ids: StringKey turns such a string into a key, and Remove
// takes one back when a step after Seen failed. It keeps DefaultMax
// entries there too: pushing a live login or request id out takes more
// than a million fresh ones within its window, where the service's former
// unbounded cache let such a flood grow its memory without end.
//
// Layout: the key space is split over shards, each with its own mutex, a
// map from key to expiry and a min-heap of expiries. Every call first
// pops the shard's expired entries off the heap (lazy expiry, amortised
// O(log n) per entry), so no background goroutine is needed. When a shard
// is full the soonest-expiring entry is evicted. Because eviction is per
// shard, "soonest-expiring" holds within a shard; keys are uniformly
// spread (they are hashes), so the overall order is close to global.
package replay

import (
	"crypto/sha256"
	"sync"
	"time"
	"unsafe"
)

// DefaultMax is the entry limit used when New is given 0: about 1 000
// requests a second for the default max_ttl of an hour, or 17 000 a
// second for 60 s TTLs. An entry costs about 140 bytes (measured at the
// limit: the map slot, its share of the map's spare capacity and the heap
// entry), so the default limit holds about 150 MB at most.
const DefaultMax = 1 << 20

// maxShards caps the shard count; minShardSize keeps shards large
// enough that per-shard eviction stays close to global order.
const (
	maxShards    = 64
	minShardSize = 1024
)

// Cache is a bounded set of request keys with expiry times. It is safe
// for concurrent use.
type Cache struct {
	shards []shard
	mask   uint8
}

type shard struct {
	mu      sync.Mutex
	expires map[[32]byte]int64 // key → expiry, Unix nanoseconds
	order   expiryHeap
	max     int
}

// New returns a cache holding at most max entries (0 means DefaultMax).
// A negative max is treated as 0.
func New(max int) *Cache {
	if max <= 0 {
		max = DefaultMax
	}
	n := 1
	for n < maxShards && max/(n*2) >= minShardSize {
		n *= 2
	}
	c := &Cache{shards: make([]shard, n), mask: uint8(n - 1)}
	per, extra := max/n, max%n
	for i := range c.shards {
		c.shards[i].expires = make(map[[32]byte]int64)
		c.shards[i].max = per
		if i < extra {
			c.shards[i].max++
		}
	}
	return c
}

// Seen records key, valid until expires, and reports whether key was
// already present and not expired at now. A key seen again keeps its
// first expiry. A key whose expires is not after now is not recorded
// (such a request fails the TTL check anyway).
func (c *Cache) Seen(key [32]byte, expires time.Time, now time.Time) bool {
	s := &c.shards[key[0]&c.mask]
	nowNS, expNS := now.UnixNano(), expires.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(nowNS)
	if exp, ok := s.expires[key]; ok && exp > nowNS {
		return true
	}
	if expNS <= nowNS {
		return false
	}
	for len(s.expires) >= s.max {
		if !s.evictSoonest() {
			break
		}
	}
	s.expires[key] = expNS
	s.order.push(heapEntry{exp: expNS, key: key})
	return false
}

// Remove forgets key, so that it is accepted again: for a caller whose
// step after Seen failed and that wants the same request to be retried.
// Its heap entry stays behind, stale, until it expires or is evicted.
func (c *Cache) Remove(key [32]byte) {
	s := &c.shards[key[0]&c.mask]
	s.mu.Lock()
	delete(s.expires, key)
	s.mu.Unlock()
}

// RequestKey is the key of a request: SHA-256 of callerID, a zero byte
// and requestID. callerID must be the one the signature was verified for
// (the key is only inserted after verification), so nobody can make a
// caller's request id look used; the zero byte keeps the pair
// unambiguous (neither part contains one: both are checked on decode).
func RequestKey(callerID, requestID string) [32]byte {
	var buf [192]byte
	b := append(buf[:0], callerID...)
	b = append(b, 0)
	b = append(b, requestID...)
	return sha256.Sum256(b)
}

// StringKey is the key of a string (a login signature, a request id):
// its SHA-256, so keys stay spread over the shards and an attacker who
// chooses the strings cannot make two of them collide.
func StringKey(s string) [32]byte {
	// Hash the string's bytes in place: Sum256 only reads them, and a
	// []byte(s) copy of a long string would allocate.
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// Len returns the number of entries held, including expired ones a
// shard has not yet swept because it has not been used since.
func (c *Cache) Len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.expires)
		s.mu.Unlock()
	}
	return n
}

// expire drops every entry that expired at or before now.
func (s *shard) expire(now int64) {
	for len(s.order) > 0 && s.order[0].exp <= now {
		e := s.order.pop()
		if exp, ok := s.expires[e.key]; ok && exp == e.exp {
			delete(s.expires, e.key)
		}
	}
}

// evictSoonest drops the live entry that expires first and reports
// whether there was one.
func (s *shard) evictSoonest() bool {
	for len(s.order) > 0 {
		e := s.order.pop()
		if exp, ok := s.expires[e.key]; ok && exp == e.exp {
			delete(s.expires, e.key)
			return true
		}
	}
	return false
}

// heapEntry pairs a key with the expiry it was inserted with; an entry
// whose expiry no longer matches the map is stale and skipped.
type heapEntry struct {
	exp int64
	key [32]byte
}

// expiryHeap is a binary min-heap on exp. It is written out rather than
// using container/heap, whose interface boxes every pushed value: this
// runs once per accepted request.
type expiryHeap []heapEntry

func (h *expiryHeap) push(e heapEntry) {
	*h = append(*h, e)
	q := *h
	for i := len(q) - 1; i > 0; {
		parent := (i - 1) / 2
		if q[parent].exp <= q[i].exp {
			break
		}
		q[parent], q[i] = q[i], q[parent]
		i = parent
	}
}

func (h *expiryHeap) pop() heapEntry {
	q := *h
	top := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q = q[:last]
	for i := 0; ; {
		small, l, r := i, 2*i+1, 2*i+2
		if l < len(q) && q[l].exp < q[small].exp {
			small = l
		}
		if r < len(q) && q[r].exp < q[small].exp {
			small = r
		}
		if small == i {
			break
		}
		q[i], q[small] = q[small], q[i]
		i = small
	}
	*h = q
	return top
}
