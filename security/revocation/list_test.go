package revocation

import (
	"strings"
	"testing"
)

func TestParseTokenRevocation(t *testing.T) {
	ok := `{"user":"alice","jti":"abc","revoked_at":"2026-12-06T10:00:00Z","by":"admin","reason":"lost laptop"}`
	r, err := ParseTokenRevocation("jti.abc", []byte(ok))
	if err != nil || r.User != "alice" || r.RevokedAt.Year() != 2026 || r.Key != "jti.abc" {
		t.Fatalf("%+v %v", r, err)
	}
	if _, err := ParseTokenRevocation("user.alice", []byte(ok)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ key, value, want string }{
		{"jti.other", ok, "names jti"},
		{"user.bob", ok, "names user"},
		{"foo.abc", ok, "want jti"},
		{"jti.", ok, "want jti"},
		{"jti.abc", `{"revoked_at":"yesterday"}`, "jti.abc"},
		{"jti.abc", `[`, "jti.abc"},
	} {
		if _, err := ParseTokenRevocation(c.key, []byte(c.value)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %s: %v, want %q", c.key, c.value, err, c.want)
		}
	}
}

func FuzzParseTokenRevocation(f *testing.F) {
	f.Add("jti.abc", []byte(`{"user":"alice","jti":"abc","revoked_at":"2026-12-06T10:00:00Z","by":"admin","reason":"x"}`))
	f.Add("user.alice", []byte(`{"user":"alice"}`))
	f.Fuzz(func(t *testing.T, key string, value []byte) {
		r, err := ParseTokenRevocation(key, value)
		if err == nil && r.Key != key {
			t.Fatalf("key %q not kept: %q", key, r.Key)
		}
	})
}
