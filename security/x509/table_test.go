package x509

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/connector/protocol"
)

// requestEntry returns the request cache's entry for is's certificate.
func requestEntry(t *testing.T, p *Provider, is *Issued) *certEntry {
	t.Helper()
	e, err := p.verifiedCert(p.st.Load(), is.CertPEM, forRequest)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestTableKeepsRefusing: once a cached ECDSA caller's entry has its
// P-256 table (after the second good signature), tampered signatures and
// messages are still refused, with VerifyWith's errors, and good ones
// accepted.
func TestTableKeepsRefusing(t *testing.T) {
	ca := mustCA(t, "test CA", KeyECDSA)
	alice := mustIssue(t, ca, "alice.mcollective", IssueOptions{})
	p := verifier(t, ca, Config{})
	const caller = "choria=alice.mcollective"
	for i := 1; i <= 2; i++ {
		if _, err := p.VerifyRequest(testMsg, mustSign(t, alice, testMsg), alice.CertPEM, caller); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if has := requestEntry(t, p, alice).table.Load() != nil; has != (i == 2) {
			t.Fatalf("after request %d the entry has a table: %v", i, has)
		}
	}
	if n := p.st.Load().requests.tableCount(); n != 1 {
		t.Fatalf("request cache counts %d tables, want 1", n)
	}

	sig := mustSign(t, alice, testMsg)
	tampered := bytes.Clone(sig)
	tampered[len(tampered)-1] ^= 1
	other := mustSign(t, mustIssue(t, ca, "bob.mcollective", IssueOptions{}), testMsg)
	for _, tc := range []struct {
		name     string
		msg, sig []byte
		want     string // "" accepts
	}{
		{"good 3rd", testMsg, sig, ""},
		{"tampered signature 4th", testMsg, tampered, "ECDSA SHA-256 signature does not verify"},
		{"tampered message 5th", append(bytes.Clone(testMsg), 'x'), sig, "ECDSA SHA-256 signature does not verify"},
		{"another key's signature", testMsg, other, "ECDSA SHA-256 signature does not verify"},
		{"truncated signature", testMsg, sig[:len(sig)-1], "ECDSA SHA-256 signature does not verify"},
		{"empty signature", testMsg, nil, "empty signature"},
		{"good again", testMsg, mustSign(t, alice, testMsg), ""},
	} {
		_, err := p.VerifyRequest(tc.msg, tc.sig, alice.CertPEM, caller)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		wantRefusal(t, err, protocol.KindSignature, "is invalid")
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q does not contain %q", tc.name, err, tc.want)
		}
	}
	if requestEntry(t, p, alice).table.Load() == nil {
		t.Fatal("the table went away")
	}
}

// TestTableOnlyForRequestsAndECDSA: the reply cache builds no table, nor
// does an Ed25519 or RSA caller's entry.
func TestTableOnlyForRequestsAndECDSA(t *testing.T) {
	ca := mustCA(t, "test CA", KeyECDSA)
	p := verifier(t, ca, Config{})
	node := mustIssue(t, ca, "node1.example.net", IssueOptions{})
	for range 3 {
		if err := p.VerifyReply(testMsg, mustSign(t, node, testMsg), node.CertPEM, "node1.example.net"); err != nil {
			t.Fatal(err)
		}
	}
	if n := p.st.Load().replies.tableCount(); n != 0 {
		t.Errorf("reply cache holds %d tables, want 0", n)
	}
	for _, kt := range []KeyType{KeyEd25519, KeyRSA} {
		is := mustIssue(t, ca, "carol.mcollective", IssueOptions{KeyType: kt})
		for range 3 {
			if _, err := p.VerifyRequest(testMsg, mustSign(t, is, testMsg), is.CertPEM, "choria=carol.mcollective"); err != nil {
				t.Fatal(err)
			}
		}
		if requestEntry(t, p, is).table.Load() != nil {
			t.Errorf("%s entry has a P-256 table", kt)
		}
	}
	if n := p.st.Load().requests.tableCount(); n != 0 {
		t.Errorf("request cache holds %d tables, want 0", n)
	}
}

// ecdsaEntry is a cache entry for a fresh P-256 key, valid around now.
func ecdsaEntry(t *testing.T, k [32]byte, now time.Time) (*certEntry, *ecdsa.PrivateKey) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &certEntry{key: k, pub: &priv.PublicKey, notBefore: now.Add(-time.Hour), notAfter: now.Add(time.Hour)}, priv
}

// TestTableCap: a cache never holds more than maxTables tables, frees
// the slots of evicted entries, and an entry that found no slot gets one
// later.
func TestTableCap(t *testing.T) {
	const maxEntries, maxTables = 16, 3
	c := newCertCache(maxEntries, maxTables)
	now := time.Now()
	type cached struct {
		e   *certEntry
		sig []byte
	}
	var all []cached
	for i := range 6 {
		var k [32]byte
		k[0] = byte(i)
		e, priv := ecdsaEntry(t, k, now)
		c.put(k, e, now)
		all = append(all, cached{e, mustSignECDSA(t, priv, testMsg)})
	}
	for round := range 3 {
		for i, ce := range all {
			if err := c.verify(ce.e, testMsg, ce.sig); err != nil {
				t.Fatalf("round %d entry %d: %v", round, i, err)
			}
		}
	}
	withTable := func() (n int) {
		for _, ce := range all {
			if ce.e.table.Load() != nil {
				n++
			}
		}
		return n
	}
	if n, count := withTable(), c.tableCount(); n != maxTables || count != maxTables {
		t.Fatalf("%d entries have a table, the cache counts %d; want %d", n, count, maxTables)
	}

	// Fill the cache with other entries: eviction frees the slots.
	for i := range 4 * maxEntries {
		var k [32]byte
		k[0], k[1] = byte(i), 1
		e, _ := ecdsaEntry(t, k, now)
		c.put(k, e, now)
	}
	c.mu.RLock()
	held, counted := 0, c.tables
	for _, e := range c.m {
		if e.slot {
			held++
		}
	}
	c.mu.RUnlock()
	if held != counted || counted > maxTables {
		t.Fatalf("after eviction: %d entries hold a slot, the cache counts %d (max %d)", held, counted, maxTables)
	}

	// Emptied, the cache holds no slot.
	c.mu.Lock()
	for k, e := range c.m {
		c.drop(k, e)
	}
	if c.tables != 0 {
		t.Errorf("empty cache counts %d tables", c.tables)
	}
	c.mu.Unlock()

	// An entry that finds every slot taken on its second signature
	// retries every tableEvery signatures and takes one once free.
	var k [32]byte
	k[0], k[1] = 0xff, 0xff
	e, priv := ecdsaEntry(t, k, now)
	c.put(k, e, now)
	sig := mustSignECDSA(t, priv, testMsg)
	c.mu.Lock()
	c.tables = maxTables // as if other entries held them all
	c.mu.Unlock()
	for range 2 {
		if err := c.verify(e, testMsg, sig); err != nil {
			t.Fatal(err)
		}
	}
	if e.table.Load() != nil {
		t.Fatal("an entry got a table beyond the cap")
	}
	c.mu.Lock()
	c.tables = maxTables - 1
	c.mu.Unlock()
	for range tableEvery {
		if err := c.verify(e, testMsg, sig); err != nil {
			t.Fatal(err)
		}
	}
	if e.table.Load() == nil {
		t.Fatal("the entry got no table once a slot was free")
	}
}

// TestTableConcurrent verifies from many goroutines while entries get
// their tables and are evicted; run it with -race.
func TestTableConcurrent(t *testing.T) {
	ca := mustCA(t, "test CA", KeyECDSA)
	p := verifier(t, ca, Config{})
	var callers []*Issued
	var sigs [][]byte
	for i := range 4 {
		is := mustIssue(t, ca, fmt.Sprintf("user%d.mcollective", i), IssueOptions{})
		callers = append(callers, is)
		sigs = append(sigs, mustSign(t, is, testMsg))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 12 {
				c := (g + i) % len(callers)
				caller := fmt.Sprintf("choria=user%d.mcollective", c)
				if _, err := p.VerifyRequest(testMsg, sigs[c], callers[c].CertPEM, caller); err != nil {
					t.Error(err)
				}
				bad := bytes.Clone(sigs[c])
				bad[len(bad)-1] ^= 1
				if _, err := p.VerifyRequest(testMsg, bad, callers[c].CertPEM, caller); err == nil {
					t.Error("tampered signature accepted")
				}
			}
		})
	}
	wg.Wait()
	if n := p.st.Load().requests.tableCount(); n != len(callers) {
		t.Errorf("request cache counts %d tables, want %d", n, len(callers))
	}
}

func mustSignECDSA(t *testing.T, priv *ecdsa.PrivateKey, msg []byte) []byte {
	t.Helper()
	sig, err := SignWith(priv, msg)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}
