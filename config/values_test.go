package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseBool(t *testing.T) {
	for _, s := range []string{"1", "y", "Y", "yes", "YES", "t", "true", "True", " true "} {
		if b, err := ParseBool(s); err != nil || !b {
			t.Errorf("ParseBool(%q) = %v, %v; want true", s, b, err)
		}
	}
	for _, s := range []string{"0", "n", "no", "No", "f", "false", "FALSE"} {
		if b, err := ParseBool(s); err != nil || b {
			t.Errorf("ParseBool(%q) = %v, %v; want false", s, b, err)
		}
	}
	for _, s := range []string{"", "on", "off", "2", "yess", "enabled", "-1"} {
		if _, err := ParseBool(s); !errors.Is(err, ErrInvalidValue) {
			t.Errorf("ParseBool(%q) err = %v, want ErrInvalidValue", s, err)
		}
	}
}

func TestParseSeconds(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"60", time.Minute, true},
		{"0", 0, true},
		{"0.01", 10 * time.Millisecond, true},
		{"30.0", 30 * time.Second, true},
		{"10s", 10 * time.Second, true},
		{"1h", time.Hour, true},
		{"1m30s", 90 * time.Second, true},
		{"-1", 0, false},
		{"-1s", 0, false},
		{"10 s", 0, false},
		{"NaN", 0, false},
		{"inf", 0, false},
		{"1e300", 0, false},
		{"0x10", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseSeconds(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("parseSeconds(%q) = %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestNormalizeNATSURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"broker1:4222", "nats://broker1:4222"},
		{"broker1", "nats://broker1:4222"},
		{"nats://b.example.net:4223", "nats://b.example.net:4223"},
		{"nats://b.example.net", "nats://b.example.net:4222"},
		{"tls://b:4443", "tls://b:4443"},
		{"[::1]:4222", "nats://[::1]:4222"},
		{"nats://[2001:db8::1]:4222", "nats://[2001:db8::1]:4222"},
		{"http://b:4222", ""},
		{"b:0", ""},
		{"b:port", ""},
		{"nats://u:p@b:4222", ""},
		{"nats://b:4222/path", ""},
		{":4222", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := NormalizeNATSURL(tt.in)
			if tt.want == "" {
				if !errors.Is(err, ErrInvalidValue) {
					t.Fatalf("NormalizeNATSURL(%q) = %q, %v; want ErrInvalidValue", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NormalizeNATSURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestSplitting(t *testing.T) {
	if got := splitList(" a , b,,c ,"); strings.Join(got, "|") != "a|b|c" {
		t.Errorf("splitList = %q", got)
	}
	if got := splitPaths("/a: /b ::/c"); strings.Join(got, "|") != "/a|/b|/c" {
		t.Errorf("splitPaths = %q", got)
	}
}

func TestPaths(t *testing.T) {
	t.Setenv("HOME", "/home/u")
	tests := []struct{ dir, in, want string }{
		{"/etc/tutti", "pki/ca.pem", "/etc/tutti/pki/ca.pem"},
		{"/etc/tutti", "/abs/ca.pem", "/abs/ca.pem"},
		{"/etc/tutti", "~/ca.pem", "/home/u/ca.pem"},
		{"/etc/tutti", "~", "/home/u"},
		{"/etc/tutti", "~bob/ca.pem", "/etc/tutti/~bob/ca.pem"},
		{"", "rel.pem", "rel.pem"},
	}
	for _, tt := range tests {
		if got := resolvePath(tt.dir, tt.in); got != tt.want {
			t.Errorf("resolvePath(%q, %q) = %q, want %q", tt.dir, tt.in, got, tt.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	tests := []struct{ in, want string }{
		{"identiy", "identity"},
		{"colectives", "collectives"},
		{"Identity", "identity"},
		{"loglevl", "loglevel"},
		{"plugin.security.file.cert", "plugin.security.file.certificate"},
		{"plugin.security.file.kye", "plugin.security.file.key"},
		{"security.provider", "plugin.security.provider"},
		{"plugin.activemq.pool.2.pasword", "plugin.activemq.pool.2.password"},
		{"foo", ""},
		{"xyzzy_frobnicate", ""},
		{"plugin.puppet.splay", ""},
	}
	for _, tt := range tests {
		if got := suggest(tt.in); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestLevenshtein(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "abc", 0}, {"kitten", "sitting", 3}, {"", "abc", 3}, {"flaw", "lawn", 2},
	}
	for _, tt := range tests {
		if got := levenshtein(tt.a, tt.b, 100); got != tt.want {
			t.Errorf("levenshtein(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
	if got := levenshtein("kitten", "sitting", 2); got != 2 {
		t.Errorf("limit not applied: %d", got)
	}
}
