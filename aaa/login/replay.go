package login

import (
	"hash/maphash"
	"sync"
	"time"
)

const replayShards = 32

// ReplayCache remembers keys until they expire, so a login body or a
// request id is accepted once. Entries expire lazily; each shard sweeps
// itself when it has grown past twice its size after the last sweep.
// Safe for concurrent use; shards keep contention low.
type ReplayCache struct {
	seed   maphash.Seed
	shards [replayShards]replayShard
}

type replayShard struct {
	mu        sync.Mutex
	m         map[string]int64 // key → expiry, unix nanoseconds
	sweepNext int
}

// NewReplayCache returns an empty cache.
func NewReplayCache() *ReplayCache {
	c := &ReplayCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = map[string]int64{}
		c.shards[i].sweepNext = 1024
	}
	return c
}

func (c *ReplayCache) shard(key string) *replayShard {
	return &c.shards[maphash.String(c.seed, key)%replayShards]
}

// Add records key until expires and reports true, or reports false when
// key is already present and not expired at now.
func (c *ReplayCache) Add(key string, expires, now time.Time) bool {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := now.UnixNano()
	if exp, ok := s.m[key]; ok && exp > n {
		return false
	}
	if len(s.m) >= s.sweepNext {
		for k, exp := range s.m {
			if exp <= n {
				delete(s.m, k)
			}
		}
		s.sweepNext = max(1024, 2*len(s.m))
	}
	s.m[key] = expires.UnixNano()
	return true
}

// Remove forgets key (used when a step after Add failed).
func (c *ReplayCache) Remove(key string) {
	s := c.shard(key)
	s.mu.Lock()
	delete(s.m, key)
	s.mu.Unlock()
}

// Len is the number of entries, expired or not.
func (c *ReplayCache) Len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
