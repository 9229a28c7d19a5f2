package revoke

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// BucketName is the JetStream key-value bucket of revocations.
const BucketName = "TUTTI_TOKEN_REVOCATIONS"

// ErrEntry is wrapped by every refusal of a revocation entry.
var ErrEntry = errors.New("invalid revocation")

// Entry is one revocation: of the token JTI, or (JTI empty) of every
// token of User issued at or before RevokedAt.
type Entry struct {
	User      string    `json:"user"`
	JTI       string    `json:"jti"`
	RevokedAt time.Time `json:"revoked_at"`
	By        string    `json:"by"`
	Reason    string    `json:"reason"`
}

// keyPart is what the name part of a key may hold: nats.go's key rule
// (no leading or trailing dot).
var keyPart = regexp.MustCompile(`^[-/_=a-zA-Z0-9]([-/_=.a-zA-Z0-9]*[-/_=a-zA-Z0-9])?$`)

// Key is the entry's key: "jti.<id>" for a token, "user.<name>" for a
// user.
func (e *Entry) Key() string {
	if e.JTI != "" {
		return "jti." + e.JTI
	}
	return "user." + e.User
}

// Validate checks the entry is one of the two kinds and its key is
// usable as a JetStream key.
func (e *Entry) Validate() error {
	switch {
	case e.JTI == "" && e.User == "":
		return fmt.Errorf("%w: neither user nor jti", ErrEntry)
	case e.RevokedAt.IsZero():
		return fmt.Errorf("%w: no revoked_at", ErrEntry)
	}
	part := e.JTI
	if part == "" {
		part = e.User
	}
	if !keyPart.MatchString(part) || strings.Contains(part, "..") {
		return fmt.Errorf("%w: %q holds characters a key cannot (letters, digits, - / _ = . only)", ErrEntry, part)
	}
	return nil
}

// Parse decodes and validates one entry (a KV value or file element).
func Parse(data []byte) (*Entry, error) {
	var e Entry
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEntry, err)
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return &e, nil
}

// Token is what a revocation is checked against.
type Token struct {
	// ID is the jti claim.
	ID string
	// Users are the names the token belongs to: its sub claim, and the
	// name in an up=<name> callerid (tokens from aaasvc carry no sub).
	Users    []string
	IssuedAt time.Time
}

// Set is the revocations in force. Safe for concurrent use.
type Set struct {
	mu      sync.RWMutex
	entries map[string]*Entry // by Key
}

// NewSet holds entries.
func NewSet() *Set { return &Set{entries: map[string]*Entry{}} }

// Put adds or replaces an entry.
func (s *Set) Put(e *Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries[e.Key()] = e
}

// Delete removes the entry of key (a purged KV key).
func (s *Set) Delete(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.entries, key)
}

// Replace swaps the whole set (a reloaded file).
func (s *Set) Replace(list []Entry) {
	m := make(map[string]*Entry, len(list))
	for i := range list {
		m[list[i].Key()] = &list[i]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries = m
}

// Revoked returns the entry revoking t, or nil.
func (s *Set) Revoked(t Token) *Entry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.entries) == 0 {
		return nil
	}
	if e, ok := s.entries["jti."+t.ID]; ok && t.ID != "" {
		return e
	}
	for _, u := range t.Users {
		if e, ok := s.entries["user."+u]; ok && u != "" && !t.IssuedAt.After(e.RevokedAt) {
			return e
		}
	}
	return nil
}

// List is every entry, oldest first.
func (s *Set) List() []Entry {
	s.mu.RLock()
	out := make([]Entry, 0, len(s.entries))
	for _, e := range s.entries {
		out = append(out, *e)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].RevokedAt.Equal(out[j].RevokedAt) {
			return out[i].RevokedAt.Before(out[j].RevokedAt)
		}
		return out[i].Key() < out[j].Key()
	})
	return out
}
