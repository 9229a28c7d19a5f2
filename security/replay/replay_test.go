package replay

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func key(i int) [32]byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	return sha256.Sum256(b[:])
}

var t0 = time.Unix(1795357924, 0)

func TestSeen(t *testing.T) {
	type step struct {
		key  int
		exp  time.Duration // relative to t0
		now  time.Duration // relative to t0
		seen bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{name: "first and second", steps: []step{
			{1, 61 * time.Second, 0, false},
			{1, 61 * time.Second, time.Second, true},
			{1, 61 * time.Second, 60 * time.Second, true},
		}},
		{name: "distinct keys", steps: []step{
			{1, time.Minute, 0, false},
			{2, time.Minute, 0, false},
			{1, time.Minute, 0, true},
		}},
		{name: "expired entry is forgotten and recorded again", steps: []step{
			{1, time.Minute, 0, false},
			{1, 3 * time.Minute, time.Minute, false}, // exactly at expiry: gone
			{1, 3 * time.Minute, 2 * time.Minute, true},
		}},
		{name: "first expiry kept on a hit", steps: []step{
			{1, time.Minute, 0, false},
			{1, time.Hour, 30 * time.Second, true},
			{1, time.Hour, 2 * time.Minute, false},
		}},
		{name: "already expired is not recorded", steps: []step{
			{1, 0, time.Second, false},
			{1, time.Minute, 2 * time.Second, false},
			{1, time.Minute, 3 * time.Second, true},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := New(16)
			for i, s := range tc.steps {
				if got := c.Seen(key(s.key), t0.Add(s.exp), t0.Add(s.now)); got != s.seen {
					t.Fatalf("step %d: Seen(key %d, exp +%v, now +%v) = %v, want %v", i, s.key, s.exp, s.now, got, s.seen)
				}
			}
		})
	}
}

func TestLazyExpiry(t *testing.T) {
	c := New(100) // one shard
	for i := 0; i < 50; i++ {
		c.Seen(key(i), t0.Add(time.Minute), t0)
	}
	if n := c.Len(); n != 50 {
		t.Fatalf("Len = %d, want 50", n)
	}
	// One call after the window sweeps everything that expired.
	c.Seen(key(1000), t0.Add(3*time.Minute), t0.Add(2*time.Minute))
	if n := c.Len(); n != 1 {
		t.Fatalf("Len after sweep = %d, want 1", n)
	}
}

func TestEvictsSoonestExpiring(t *testing.T) {
	c := New(4) // one shard of 4
	for i := 1; i <= 4; i++ {
		c.Seen(key(i), t0.Add(time.Duration(10*i)*time.Second), t0)
	}
	// Full: key 5 pushes out key 1, the soonest to expire.
	if c.Seen(key(5), t0.Add(50*time.Second), t0) {
		t.Fatal("key 5 reported as seen")
	}
	if n := c.Len(); n != 4 {
		t.Fatalf("Len = %d, want 4", n)
	}
	for _, i := range []int{2, 3, 4, 5} {
		if !c.Seen(key(i), t0.Add(time.Hour), t0) {
			t.Fatalf("key %d was evicted", i)
		}
	}
	if c.Seen(key(1), t0.Add(time.Hour), t0) {
		t.Fatal("key 1 (soonest expiring) was kept")
	}
}

func TestBounded(t *testing.T) {
	const max = 5000
	c := New(max)
	if len(c.shards) < 2 {
		t.Fatalf("%d shards for max %d, want several", len(c.shards), max)
	}
	total := 0
	for i := range c.shards {
		total += c.shards[i].max
	}
	if total != max {
		t.Fatalf("shard capacities sum to %d, want %d", total, max)
	}
	for i := 0; i < 50*max; i++ {
		c.Seen(key(i), t0.Add(time.Hour+time.Duration(i)), t0)
	}
	if n := c.Len(); n > max || n < max*9/10 {
		t.Fatalf("Len = %d, want close to and at most %d", n, max)
	}
	for i := range c.shards {
		s := &c.shards[i]
		if len(s.order) != len(s.expires) {
			t.Fatalf("shard %d: heap %d entries, map %d", i, len(s.order), len(s.expires))
		}
	}
}

func TestNewDefaults(t *testing.T) {
	for _, max := range []int{0, -1} {
		c := New(max)
		if len(c.shards) != maxShards {
			t.Fatalf("New(%d): %d shards, want %d", max, len(c.shards), maxShards)
		}
		if got := c.shards[0].max * len(c.shards); got != DefaultMax {
			t.Fatalf("New(%d): capacity %d, want %d", max, got, DefaultMax)
		}
	}
	if c := New(1); len(c.shards) != 1 || c.shards[0].max != 1 {
		t.Fatalf("New(1): %d shards", len(c.shards))
	}
}

// TestConcurrentExactlyOnce: many goroutines offer the same keys; each key
// is reported unseen exactly once. Run with -race.
func TestConcurrentExactlyOnce(t *testing.T) {
	const keys, workers = 2000, 8
	c := New(0)
	var fresh [keys]atomic.Int32
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for _, i := range r.Perm(keys) {
				if !c.Seen(key(i), t0.Add(time.Minute), t0) {
					fresh[i].Add(1)
				}
			}
		}(w)
	}
	wg.Wait()
	for i := range fresh {
		if n := fresh[i].Load(); n != 1 {
			t.Fatalf("key %d reported unseen %d times", i, n)
		}
	}
	if n := c.Len(); n != keys {
		t.Fatalf("Len = %d, want %d", n, keys)
	}
}

// TestStringKeys is the AAA service's use (it was aaa/login's own cache):
// string keys, expiry, sweeping of expired entries, Remove.
func TestStringKeys(t *testing.T) {
	c := New(0)
	now := time.Unix(1000, 0)
	if c.Seen(StringKey("a"), now.Add(time.Minute), now) || !c.Seen(StringKey("a"), now.Add(time.Minute), now.Add(59*time.Second)) {
		t.Fatal("a second Seen within expiry must report seen")
	}
	if c.Seen(StringKey("a"), now.Add(3*time.Minute), now.Add(time.Minute)) {
		t.Fatal("Seen after expiry must report unseen")
	}
	if StringKey("a") == StringKey("A") || StringKey("") != sha256.Sum256(nil) {
		t.Fatal("StringKey is not the SHA-256 of the string")
	}
	const n = 40000 // > minShardSize per shard, so every shard holds many
	for i := range n {
		c.Seen(StringKey(strconv.Itoa(i)), now.Add(time.Second), now)
	}
	later := now.Add(2 * time.Second)
	for i := range n {
		c.Seen(StringKey("x"+strconv.Itoa(i)), later.Add(time.Second), later)
	}
	if l := c.Len(); l >= 2*n {
		t.Fatalf("expired entries were not swept: %d", l)
	}
	c.Remove(StringKey("a"))
	if c.Seen(StringKey("a"), later.Add(time.Minute), later) {
		t.Fatal("Seen after Remove must report unseen")
	}
}

// TestRemoveThenSeen: the heap entry Remove leaves behind must not expire
// or evict the key recorded again afterwards.
func TestRemoveThenSeen(t *testing.T) {
	c := New(2) // one shard of 2
	c.Seen(key(1), t0.Add(time.Minute), t0)
	c.Remove(key(1))
	if n := c.Len(); n != 0 {
		t.Fatalf("Len after Remove = %d, want 0", n)
	}
	if c.Seen(key(1), t0.Add(time.Hour), t0) {
		t.Fatal("removed key reported as seen")
	}
	// Past the first expiry: the stale entry is popped, the key stays.
	if !c.Seen(key(1), t0.Add(time.Hour), t0.Add(2*time.Minute)) {
		t.Fatal("key re-recorded after Remove was expired by its old entry")
	}
	// Full shard: the live key 2 (sooner) is evicted, not key 1.
	c.Seen(key(2), t0.Add(10*time.Minute), t0.Add(2*time.Minute))
	c.Seen(key(3), t0.Add(20*time.Minute), t0.Add(2*time.Minute))
	if !c.Seen(key(1), t0.Add(time.Hour), t0.Add(3*time.Minute)) {
		t.Fatal("key 1 was evicted before the sooner-expiring key 2")
	}
	if c.Seen(key(2), t0.Add(time.Hour), t0.Add(3*time.Minute)) {
		t.Fatal("key 2 was kept")
	}
	c.Remove(key(99)) // absent: nothing happens
}

func TestHeapOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h expiryHeap
	var want []int64
	for i := 0; i < 1000; i++ {
		v := r.Int64N(100)
		want = append(want, v)
		h.push(heapEntry{exp: v})
	}
	sort.Slice(want, func(i, j int) bool { return want[i] < want[j] })
	for i, w := range want {
		if got := h.pop().exp; got != w {
			t.Fatalf("pop %d = %d, want %d", i, got, w)
		}
	}
}

// BenchmarkSeen is the hot path: a fresh key per request, a steady state
// of expiring entries (60 s TTL at one request per simulated millisecond).
func BenchmarkSeen(b *testing.B) {
	c := New(0)
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			now := t0.Add(time.Duration(i) * time.Millisecond)
			c.Seen(key(int(i)), now.Add(61*time.Second), now)
		}
	})
}

// BenchmarkSeenSerial is BenchmarkSeen on one goroutine with the keys
// hashed beforehand, so it measures the cache alone.
func BenchmarkSeenSerial(b *testing.B) {
	c := New(0)
	keys := make([][32]byte, 1<<18)
	for i := range keys {
		keys[i] = key(i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		k := keys[i&(len(keys)-1)]
		k[31] ^= byte(i >> 18) // new keys after one pass
		c.Seen(k, now.Add(61*time.Second), now)
		i++
	}
}

// BenchmarkSeenString is the signing service's path: a fresh request id
// (32 hex characters) per call, hashed with StringKey, at the steady
// state of BenchmarkSeenSerial.
func BenchmarkSeenString(b *testing.B) {
	keys := make([]string, 1<<18)
	for i := range keys {
		k := key(i)
		keys[i] = hex.EncodeToString(k[:16])
	}
	c := New(0)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		c.Seen(StringKey(keys[i&(len(keys)-1)]), now.Add(61*time.Second), now)
		i++
	}
}

// BenchmarkSeenHit measures a replayed request.
func BenchmarkSeenHit(b *testing.B) {
	c := New(0)
	k := key(1)
	c.Seen(k, t0.Add(time.Hour), t0)
	b.ReportAllocs()
	for b.Loop() {
		if !c.Seen(k, t0.Add(time.Hour), t0) {
			b.Fatal("miss")
		}
	}
}
