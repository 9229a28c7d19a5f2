package x509

import (
	"crypto"
	"sync"
	"time"
)

// Bounds of the verified-certificate caches; an entry is well under a
// kilobyte. A node sees requests from its callers, a few thousand at
// most. A client sees a reply from every node of the fleet: below the
// fleet size every reply would miss and pay a full chain verification
// (a second signature check), so the reply cache covers fleets of tens
// of thousands of nodes.
const (
	defaultCacheSize = 4096
	replyCacheSize   = 32768
)

// certEntry is what a successful chain verification established about
// one pubcert. It holds no PEM or parsed certificate: a cache hit needs
// none.
type certEntry struct {
	pub         crypto.PublicKey
	cn          string
	name        string // certName, for messages
	dnsNames    []string
	emails      []string
	fingerprint [32]byte // SHA-256 of the leaf DER
	privileged  bool
	// bound maps every name the certificate may act as (the CN, each DNS
	// SAN, and "email:"+each email SAN) to whether that name is on the
	// certname allow list.
	bound map[string]bool
	// notBefore and notAfter bound the validity of the whole verified
	// chain; the entry is used only inside them.
	notBefore, notAfter time.Time
}

// certCache memoises "this exact pubcert verified against this CA",
// keyed by SHA-256 of the pubcert bytes (PROTOCOL.md §8.3). It is never
// needed for correctness: a miss verifies the chain again.
type certCache struct {
	mu  sync.RWMutex
	m   map[[32]byte]*certEntry
	max int
}

func newCertCache(max int) *certCache {
	return &certCache{m: make(map[[32]byte]*certEntry), max: max}
}

// get returns the entry for k when it is present and now lies inside its
// validity; otherwise nil, and the caller verifies from scratch (which
// also yields the right error for an expired certificate).
func (c *certCache) get(k [32]byte, now time.Time) *certEntry {
	c.mu.RLock()
	e := c.m[k]
	c.mu.RUnlock()
	if e == nil || now.Before(e.notBefore) || now.After(e.notAfter) {
		return nil
	}
	return e
}

// put stores e under k. When the cache is full it first drops entries
// outside their validity at now, then, if still full, about half of the
// rest (arbitrary ones, by map order), which keeps memory bounded and
// the cost amortised.
func (c *certCache) put(k [32]byte, e *certEntry, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for key, old := range c.m {
			if now.Before(old.notBefore) || now.After(old.notAfter) {
				delete(c.m, key)
			}
		}
		for key := range c.m {
			if len(c.m) < c.max/2 {
				break
			}
			delete(c.m, key)
		}
	}
	c.m[k] = e
}

// len is the number of entries held.
func (c *certCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
