package cli

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/client"
)

func TestRolloutApply(t *testing.T) {
	nodes := []string{"c", "a", "b", "a", "d"}
	r := rolloutFlags{}
	got, note := r.apply(client.Limit{}, nodes)
	if !slices.Equal(got, []string{"a", "b", "c", "d"}) || note != nil {
		t.Fatalf("no limit: %v %+v", got, note)
	}
	got, note = r.apply(client.Limit{N: 2}, nodes)
	if len(got) != 2 || note == nil || note.Seed == 0 || note.Of != 4 || note.Limit != "2" {
		t.Fatalf("limit 2: %v %+v", got, note)
	}
	// the noted seed repeats the choice
	again, _ := (&rolloutFlags{limitSeed: note.Seed}).apply(client.Limit{N: 2}, nodes)
	if !slices.Equal(got, again) {
		t.Fatalf("seed %d chose %v then %v", note.Seed, got, again)
	}
}

func TestFlagRefusals(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"batch<0", func() error { _, err := (&rolloutFlags{batch: -1}).parse(); return err }(), "--batch"},
		{"sleep without batch", func() error { _, err := (&rolloutFlags{batchSleep: time.Second}).parse(); return err }(), "needs --batch"},
		{"negative sleep", func() error { _, err := (&rolloutFlags{batch: 1, batchSleep: -1}).parse(); return err }(), "negative"},
		{"seed without limit", func() error { _, err := (&rolloutFlags{limitSeed: 3}).parse(); return err }(), "needs --limit"},
		{"bad limit", func() error { _, err := (&rolloutFlags{limit: "5x"}).parse(); return err }(), "--limit"},
		{"zero timeout", (&requestFlags{}).check(), "--timeout"},
		{"sub-second ttl", (&requestFlags{timeout: time.Second, ttl: time.Millisecond}).check(), "--ttl"},
		{"json and jsonl", (&outputFlags{json: true, jsonl: true}).check(), "cannot be combined"},
		{"nodes with a fact filter", func() error {
			s := selectFlags{nodesFile: "x"}
			s.filter.o.Fact = []string{"a=b"}
			_, err := s.build()
			return err
		}(), "--nodes cannot be combined"},
	}
	for _, c := range cases {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, c.err, c.want)
		}
	}
	if _, err := (&rolloutFlags{batch: 2, batchSleep: time.Second, limit: "50%", limitSeed: 1}).parse(); err != nil {
		t.Fatal(err)
	}
	s := selectFlags{nodesFile: "x"}
	s.filter.o.Identity = []string{"/web/"}
	if _, err := s.build(); err != nil {
		t.Fatalf("-I narrows --nodes: %v", err)
	}
}
