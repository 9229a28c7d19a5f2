package revoke

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/tuttifleet/tutti/internal/freeport"
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
	return startJetStreamOn(t, -1, t.TempDir()).ClientURL()
}

func startJetStreamOn(t *testing.T, port int, store string) *natsserver.Server {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: port, JetStream: true,
		StoreDir: store, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	return ns
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
	if v, err := (*c.kv.Load()).Get(context.Background(), "jti.2ABC"); err != nil || !strings.Contains(string(v.Value()), `"reason":"test"`) {
		t.Fatalf("stored value: %v", err)
	}
}

// TestKVStoreStartsWithoutTheBroker: an instance that saw a revocation
// mirrors it into its cache; restarted while the broker is down it
// starts at once with the cached revocation in force and refuses new
// revocations with a reason; when the broker is back the bucket is read
// and replaces the cache (a revocation deleted meanwhile is gone, one
// added meanwhile in force), and Revoke works again.
func TestKVStoreStartsWithoutTheBroker(t *testing.T) {
	store, cache := t.TempDir(), filepath.Join(t.TempDir(), "revocations.json")
	port := freeport.Must(t)
	ns := startJetStreamOn(t, port, store)
	url := ns.ClientURL()
	a, err := OpenKV(KVConfig{Servers: url, Cache: cache}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, e := range []Entry{{JTI: "OLD1", RevokedAt: time.Now(), By: "root"}, {JTI: "GONE", RevokedAt: time.Now(), By: "root"}} {
		if err := a.Revoke(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { data, _ := os.ReadFile(cache); return strings.Contains(string(data), "GONE") })
	_ = a.Close()

	// the broker goes away; a new instance starts from the cache
	ns.Shutdown()
	ns.WaitForShutdown()
	start := time.Now()
	b, err := OpenKV(KVConfig{Servers: url, Cache: cache, Timeout: 500 * time.Millisecond}, nil)
	if err != nil {
		t.Fatalf("started without the broker: %v", err)
	}
	defer b.Close()
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("start took %s with the broker down", took)
	}
	if b.Revoked(Token{ID: "OLD1"}) == nil || b.Revoked(Token{ID: "GONE"}) == nil {
		t.Fatal("the cached revocations are not in force")
	}
	if err := b.Revoke(ctx, Entry{JTI: "NEW1", RevokedAt: time.Now()}); err == nil || !strings.Contains(err.Error(), "not reachable") {
		t.Fatalf("revoke with the broker down: %v", err)
	}

	// meanwhile another instance deletes GONE and adds NEW2
	url2 := startJetStreamOn(t, port, store).ClientURL()
	admin, err := OpenKV(KVConfig{Servers: url2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := (*admin.kv.Load()).Delete(ctx, "jti.GONE"); err != nil {
		t.Fatal(err)
	}
	if err := admin.Revoke(ctx, Entry{JTI: "NEW2", RevokedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return b.Revoked(Token{ID: "NEW2"}) != nil && b.Revoked(Token{ID: "GONE"}) == nil })
	if b.Revoked(Token{ID: "OLD1"}) == nil {
		t.Fatal("OLD1 lost when the bucket came back")
	}
	if err := b.Revoke(ctx, Entry{JTI: "NEW3", RevokedAt: time.Now()}); err != nil {
		t.Fatalf("revoke after the broker came back: %v", err)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
		time.Sleep(20 * time.Millisecond)
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
