package sso

import (
	"encoding/json"
	"net/url"
	"testing"
)

// FuzzCheckLoopback: an accepted redirect is always http to a loopback
// host with a port, never anything that could leave the machine.
func FuzzCheckLoopback(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:8080/callback", "http://[::1]:1/x", "http://localhost:9/",
		"https://evil.example/cb", "http://127.0.0.1.evil.example:80/", "http://user@127.0.0.1:1/", "http://127.0.0.1:1/#x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if checkLoopback(s) != nil {
			return
		}
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "http" || u.Port() == "" {
			t.Fatalf("accepted %q", s)
		}
		if h := u.Hostname(); h != "127.0.0.1" && h != "::1" && h != "localhost" {
			t.Fatalf("accepted %q (host %q)", s, h)
		}
	})
}

// FuzzLookupClaim: any JSON claims and claim name give a list or
// nothing, without panicking.
func FuzzLookupClaim(f *testing.F) {
	f.Add(`{"groups":["a","b"]}`, "groups")
	f.Add(`{"realm_access":{"roles":["x",1,null]}}`, "realm_access.roles")
	f.Add(`{"groups":"one"}`, "groups")
	f.Add(`{"a":{"b":{"c":[]}}}`, "a.b.c.d")
	f.Fuzz(func(t *testing.T, doc, name string) {
		var claims map[string]any
		if json.Unmarshal([]byte(doc), &claims) != nil {
			return
		}
		groups, ok := lookupClaim(claims, name)
		if !ok && groups != nil {
			t.Fatalf("groups %v without the claim", groups)
		}
	})
}
