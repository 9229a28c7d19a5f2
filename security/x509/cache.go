package x509

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tuttifleet/tutti/security/p256"
)

// Bounds of the verified-certificate caches; an entry is well under a
// kilobyte. A node sees requests from its callers, a few thousand at
// most. A client sees a reply from every node of the fleet: below the
// fleet size every reply would miss and pay a full chain verification
// (a second signature check), so the reply cache covers fleets of up to
// 131,072 nodes (a 50,000-node fleet measured 30 % of the client's CPU
// in chain verifications with the former 32,768). It holds what the
// fleet sent: the bound is reached only by a fleet that large.
const (
	defaultCacheSize = 4096
	replyCacheSize   = 1 << 17
)

// requestTables bounds the P-256 verification tables (security/p256)
// of the request cache: a node verifies request after request from the
// same few callers, and a table halves the cost of each verification
// after the second (about 54 µs → 26 µs) for 12 KB. 256 tables are at
// most 3.1 MB; a node with few callers, the usual case, holds a few.
// The reply cache holds none: a client sees each node's key once per
// request, too rarely for a table's construction (about 60 µs) to pay.
const requestTables = 256

// tableEvery is how often, in signatures, an entry that found no free
// table slot on its second signature tries again.
const tableEvery = 64

// certEntry is what a successful chain verification established about
// one pubcert. It holds no PEM or parsed certificate: a cache hit needs
// none.
type certEntry struct {
	key         [32]byte // in the cache: SHA-256 of the pubcert
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

	// verified counts the signatures verified with pub without a table.
	verified atomic.Uint32
	// table, once set, verifies pub's signatures (ECDSA P-256 only).
	table atomic.Pointer[p256.PublicKey]
	// slot is whether the entry holds one of its cache's table slots;
	// guarded by the cache's mu.
	slot bool
}

// certCache memoises "this exact pubcert verified against this CA",
// keyed by SHA-256 of the pubcert bytes (docs/protocol.md §8.3). It is never
// needed for correctness: a miss verifies the chain again.
//
// An entry of an ECDSA P-256 key gets a P-256 verification table on its
// second good signature (see verify), at most maxTables per cache.
type certCache struct {
	mu        sync.RWMutex
	m         map[[32]byte]*certEntry
	max       int
	maxTables int
	tables    int // entries of m holding a slot; guarded by mu
}

func newCertCache(max, maxTables int) *certCache {
	return &certCache{m: make(map[[32]byte]*certEntry), max: max, maxTables: maxTables}
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
				c.drop(key, old)
			}
		}
		for key, old := range c.m {
			if len(c.m) < c.max/2 {
				break
			}
			c.drop(key, old)
		}
	}
	if old := c.m[k]; old != nil {
		c.drop(k, old)
	}
	c.m[k] = e
}

// drop deletes the entry e under k and frees its table slot. An entry
// already handed out keeps its table; it is garbage once unused. c.mu
// must be held.
func (c *certCache) drop(k [32]byte, e *certEntry) {
	delete(c.m, k)
	if e.slot {
		e.slot = false
		c.tables--
	}
}

// len is the number of entries held.
func (c *certCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// tableCount is the number of table slots in use.
func (c *certCache) tableCount() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.tables
}

// verify checks that sig is e's signature over msg, as VerifyWith does
// and with its errors. After the second signature verified without a
// table, an ECDSA P-256 entry still in the cache takes a free table slot
// and builds a p256.PublicKey, which verifies its later signatures. An
// entry that found no free slot tries again every tableEvery signatures.
func (c *certCache) verify(e *certEntry, msg, sig []byte) error {
	if k := e.table.Load(); k != nil {
		if len(sig) == 0 {
			return errEmptySignature
		}
		digest := sha256.Sum256(msg)
		if !k.VerifyASN1(digest[:], sig) {
			return errECDSASignature
		}
		return nil
	}
	if err := VerifyWith(e.pub, msg, sig); err != nil {
		return err
	}
	if c.maxTables == 0 {
		return nil
	}
	if n := e.verified.Add(1); n == 2 || n%tableEvery == 0 {
		c.buildTable(e)
	}
	return nil
}

// buildTable gives e a table when its key is ECDSA P-256 and a slot is
// free. Concurrent calls for one entry are harmless: the first to take
// the slot builds.
func (c *certCache) buildTable(e *certEntry) {
	pub, ok := e.pub.(*ecdsa.PublicKey)
	if !ok || !c.takeSlot(e) {
		return
	}
	k, err := p256.NewPublicKey(pub)
	if err != nil { // checkKeyStrength let in a P-256 key it cannot read
		c.mu.Lock()
		if e.slot {
			e.slot = false
			c.tables--
		}
		c.mu.Unlock()
		return
	}
	e.table.Store(k)
}

// takeSlot reserves a table slot for e when e is still cached, has
// none, and one is free.
func (c *certCache) takeSlot(e *certEntry) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.slot || e.table.Load() != nil || c.tables >= c.maxTables || !c.holds(e) {
		return false
	}
	e.slot = true
	c.tables++
	return true
}

// holds reports whether e is in c; c.mu must be held.
func (c *certCache) holds(e *certEntry) bool {
	return c.m[e.key] == e
}
