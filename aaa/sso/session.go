package sso

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"sync"
	"sync/atomic"
	"time"
)

// MaxSessionsPerSource bounds the flows in progress from one address:
// each device flow makes tutti-aaa poll the provider.
const MaxSessionsPerSource = 10

// abandonAfter ends a device flow the CLI stopped polling.
const abandonAfter = time.Minute

// session is one flow in progress, keyed by a secret id only the CLI
// that started it holds.
type session struct {
	id      string
	pub     ed25519.PublicKey
	source  string
	expires time.Time

	// code + PKCE
	state, nonce, redirect, challenge string

	// device flow: done is closed when the polling goroutine has set
	// token or err; cancel stops that goroutine; lastPoll (unix
	// nanoseconds) tells an abandoned flow.
	done     chan struct{}
	token    string
	err      error
	cancel   context.CancelFunc
	lastPoll atomic.Int64
}

// sessions is the bounded table of flows in progress.
type sessions struct {
	mu  sync.Mutex
	m   map[string]*session
	max int
}

func newSessions(max int) *sessions { return &sessions{m: map[string]*session{}, max: max} }

// add stores s unless the table, or s's source's share of it, is full
// of live sessions.
func (t *sessions) add(s *session, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	fromSource := 0
	for id, old := range t.m {
		if now.After(old.expires) {
			delete(t.m, id)
		} else if old.source == s.source {
			fromSource++
		}
	}
	if len(t.m) >= t.max || fromSource >= MaxSessionsPerSource {
		return false
	}
	t.m[s.id] = s
	return true
}

// remove drops id.
func (t *sessions) remove(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, id)
}

// get returns the live session id.
func (t *sessions) get(id string, now time.Time) (*session, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.m[id]
	if ok && now.After(s.expires) {
		delete(t.m, id)
		return nil, false
	}
	return s, ok
}

// take removes and returns the live session id: a session serves one
// token, or one refusal.
func (t *sessions) take(id string, now time.Time) (*session, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.m[id]
	delete(t.m, id)
	if ok && now.After(s.expires) {
		return nil, false
	}
	return s, ok
}

// randomID is 256 random bits, base64url.
func randomID() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}
