package sso

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"sync"
	"time"
)

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
	// token or err.
	done  chan struct{}
	token string
	err   error
}

// sessions is the bounded table of flows in progress.
type sessions struct {
	mu  sync.Mutex
	m   map[string]*session
	max int
}

func newSessions(max int) *sessions { return &sessions{m: map[string]*session{}, max: max} }

// add stores s unless the table is full of live sessions.
func (t *sessions) add(s *session, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.m) >= t.max {
		for id, old := range t.m {
			if now.After(old.expires) {
				delete(t.m, id)
			}
		}
		if len(t.m) >= t.max {
			return false
		}
	}
	t.m[s.id] = s
	return true
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
