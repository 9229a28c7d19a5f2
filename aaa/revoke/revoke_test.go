package revoke

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func TestSetRevoked(t *testing.T) {
	s := NewSet()
	s.Put(&Entry{JTI: "2ABC", RevokedAt: t0, By: "admin"})
	s.Put(&Entry{User: "bob", RevokedAt: t0, By: "admin", Reason: "laptop lost"})
	cases := []struct {
		name string
		tok  Token
		want string
	}{
		{"revoked id", Token{ID: "2ABC", Users: []string{"alice"}, IssuedAt: t0.Add(time.Hour)}, "jti.2ABC"},
		{"other id", Token{ID: "2ABD", Users: []string{"alice"}, IssuedAt: t0}, ""},
		{"user's token issued before", Token{ID: "x", Users: []string{"bob"}, IssuedAt: t0.Add(-time.Minute)}, "user.bob"},
		{"user's token issued in the same second", Token{ID: "x", Users: []string{"bob"}, IssuedAt: t0}, "user.bob"},
		{"user's token issued after", Token{ID: "x", Users: []string{"bob"}, IssuedAt: t0.Add(time.Second)}, ""},
		{"callerid name", Token{ID: "x", Users: []string{"", "bob"}, IssuedAt: t0}, "user.bob"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if e := s.Revoked(tc.tok); e != nil {
				got = e.Key()
			}
			if got != tc.want {
				t.Fatalf("revoked by %q, want %q", got, tc.want)
			}
		})
	}
}

func TestEntryValidate(t *testing.T) {
	for _, bad := range []Entry{{RevokedAt: t0}, {User: "bob"}, {User: "b ob", RevokedAt: t0}, {User: "bob@example.com", RevokedAt: t0}, {JTI: ".x", RevokedAt: t0}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if err := (&Entry{User: "bob.smith", RevokedAt: t0}).Validate(); err != nil {
		t.Error(err)
	}
}

func TestFileStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "revocations.json")
	svc, err := OpenFile(path, nil) // the service's view, before the file exists
	if err != nil {
		t.Fatal(err)
	}
	admin, err := OpenFile(path, nil) // tutti-aaa token revoke
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.Revoke(context.Background(), Entry{User: "bob", RevokedAt: time.Now(), By: "root", Reason: "left"}); err != nil {
		t.Fatal(err)
	}
	if err := admin.Revoke(context.Background(), Entry{JTI: "2ABC", RevokedAt: time.Now(), By: "root"}); err != nil {
		t.Fatal(err)
	}
	svc.lastCheck.Store(0) // as if a second had passed
	if e := svc.Revoked(Token{ID: "other", Users: []string{"bob"}, IssuedAt: time.Now().Add(-time.Minute)}); e == nil || e.Reason != "left" {
		t.Fatalf("service does not see the user revocation: %+v", e)
	}
	list, err := svc.List(context.Background())
	if err != nil || len(list) != 2 {
		t.Fatalf("list %v %v", list, err)
	}
	data, _ := os.ReadFile(path)
	if !strings.Contains(string(data), `"revoked_at"`) {
		t.Fatalf("file %s", data)
	}
	// a broken file keeps the previous set
	if err := os.WriteFile(path, []byte("[{"), 0o600); err != nil {
		t.Fatal(err)
	}
	svc.lastCheck.Store(0)
	if svc.Revoked(Token{ID: "2ABC"}) == nil {
		t.Fatal("broken file dropped the revocations")
	}
}

func startJetStream(t *testing.T) string {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	return ns.ClientURL()
}

// TestKVStoreInstancesAgree: two instances on one bucket (created by the
// first) see each other's revocations; a third started later reads them
// before it returns.
func TestKVStoreInstancesAgree(t *testing.T) {
	url := startJetStream(t)
	a, err := OpenKV(KVConfig{Servers: url}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := OpenKV(KVConfig{Servers: url}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.Revoke(context.Background(), Entry{JTI: "2ABC", User: "bob", RevokedAt: time.Now(), By: "root", Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.Revoked(Token{ID: "2ABC"}) == nil {
		if time.Now().After(deadline) {
			t.Fatal("instance b never saw the revocation")
		}
		time.Sleep(10 * time.Millisecond)
	}
	c, err := OpenKV(KVConfig{Servers: url}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if e := c.Revoked(Token{ID: "2ABC"}); e == nil || e.By != "root" {
		t.Fatalf("late instance: %+v", e)
	}
	if v, err := c.kv.Get(context.Background(), "jti.2ABC"); err != nil || !strings.Contains(string(v.Value()), `"reason":"test"`) {
		t.Fatalf("stored value: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"user":"bob","jti":"","revoked_at":"2026-12-01T12:00:00Z","by":"root","reason":"x"}`))
	f.Add([]byte(`[{"jti":"2ABC","revoked_at":"2026-12-01T12:00:00Z"}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if e, err := Parse(data); err == nil && e.Validate() != nil {
			t.Fatal("Parse accepted an invalid entry")
		}
		_, _ = ParseFile(data)
	})
}
