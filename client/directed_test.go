package client

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/protocol"
)

func TestDirectedChunks(t *testing.T) {
	got, err := directedChunks([]string{"a", "b", "a", "c", "d", "b", "e"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]string{{"a", "b"}, {"c", "d"}, {"e"}}; !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("chunks %v, want %v", got, want)
	}
	if got, _ := directedChunks(make([]string, 0), 0); len(got) != 0 {
		t.Fatalf("no targets: %v", got)
	}
	many := make([]string, 2*DefaultDirectedChunk+1)
	for i := range many {
		many[i] = "node" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + "." + strings.Repeat("y", i/26)
	}
	got, err = directedChunks(many, 0)
	if err != nil || len(got) != 3 || len(got[0]) != DefaultDirectedChunk || len(got[2]) != 1 {
		t.Fatalf("default chunk: %d chunks, %v", len(got), err)
	}
	// A target a node would read as a regular expression, or that is no
	// identity at all, is refused before anything is signed.
	for _, bad := range []string{"/.*/", "/node1/", "web 1", "", "a/b", "node1,node2", "*", "web1.example.net\n"} {
		if _, err := directedChunks([]string{"ok.example.net", bad}, 0); err == nil || !strings.Contains(err.Error(), "not a node identity") {
			t.Errorf("target %q: %v", bad, err)
		}
	}
}

// Every chunk is signed on its own, its identity filter naming exactly
// the nodes it is published to, with the user's other selectors kept.
func TestDoBindsEachChunkToItsTargets(t *testing.T) {
	nodes := []string{"n1", "n2", "n3", "n4", "n5"}
	f, c := newFakeFleet(t, nodes...)
	c.o.DirectedChunk = 2
	filter := protocol.Filter{Identity: []string{"/^n/", "n9"}, Agent: []string{"rpcutil"}, CFClass: []string{"role::web"},
		Fact:     []protocol.FactFilter{{Fact: "country", Operator: "==", Value: "uk"}},
		Compound: [][]protocol.CompoundEntry{{{Expr: "role=web"}}}}
	var got []string
	sum, err := c.Do(context.Background(), Request{Agent: "rpcutil", Action: "ping", Filter: filter,
		Targets: append(slices.Clone(nodes), "n1"), Expect: 5, Timeout: 5 * time.Second}, func(r Result) {
		if r.State != Verified {
			t.Errorf("%s: %s %v", r.Sender, r.State, r.Err)
		}
		got = append(got, r.Sender)
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, nodes) || sum.Replies != 5 || len(sum.Missing)+len(sum.Unexpected) != 0 {
		t.Fatalf("replies %v, summary %+v", got, sum)
	}
	if len(sum.RequestIDs) != 3 || sum.RequestID != sum.RequestIDs[0] || len(slices.Compact(slices.Sorted(slices.Values(sum.RequestIDs)))) != 3 {
		t.Fatalf("request ids %v (first %s): want 3 distinct, one per chunk", sum.RequestIDs, sum.RequestID)
	}
	sent := f.requests()
	if len(sent) != 5 {
		t.Fatalf("%d messages published, want one per target", len(sent))
	}
	want := map[string][]string{"n1": {"n1", "n2"}, "n2": {"n1", "n2"}, "n3": {"n3", "n4"}, "n4": {"n3", "n4"}, "n5": {"n5"}}
	byChunk := map[string][]string{}
	for _, s := range sent {
		if s.kind != connector.Directed {
			t.Fatalf("published %v to %s, want directed", s.kind, s.to)
		}
		if !slices.Equal(s.filter.Identity, want[s.to]) {
			t.Errorf("message to %s names %v, want %v", s.to, s.filter.Identity, want[s.to])
		}
		if !slices.Equal(s.filter.Agent, filter.Agent) || !slices.Equal(s.filter.CFClass, filter.CFClass) ||
			!slices.Equal(s.filter.Fact, filter.Fact) || len(s.filter.Compound) != 1 || s.filter.Compound[0][0].Expr != "role=web" {
			t.Errorf("message to %s lost the user's selectors: %+v", s.to, s.filter)
		}
		byChunk[s.id] = append(byChunk[s.id], s.to)
	}
	for _, id := range sum.RequestIDs {
		if to := byChunk[id]; !slices.Equal(to, want[to[0]]) {
			t.Errorf("request %s went to %v", id, to)
		}
	}
	if !slices.Equal(filter.Identity, []string{"/^n/", "n9"}) {
		t.Errorf("the caller's filter was changed: %v", filter.Identity)
	}
}

// A broadcast keeps the filter as given: its identity patterns select.
func TestDoBroadcastKeepsIdentityPatterns(t *testing.T) {
	f, c := newFakeFleet(t, "n1")
	sum, err := c.Do(context.Background(), Request{Discovery: true, Filter: protocol.Filter{Identity: []string{"/^web/"}},
		Timeout: 50 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sent := f.requests()
	if len(sent) != 1 || sent[0].kind != connector.Broadcast || !slices.Equal(sent[0].filter.Identity, []string{"/^web/"}) ||
		!slices.Equal(sum.RequestIDs, []string{sum.RequestID}) {
		t.Fatalf("broadcast sent %+v, summary %+v", sent, sum)
	}
}

// Each batch signs its own batch's identities, chunked when the batch is
// larger than a chunk.
func TestDoBatchedBindsEachBatch(t *testing.T) {
	nodes := []string{"n1", "n2", "n3", "n4", "n5"}
	f, c := newFakeFleet(t, nodes...)
	c.o.DirectedChunk = 2
	sum, err := c.DoBatched(context.Background(), Request{Agent: "rpcutil", Action: "ping", Targets: nodes, Timeout: 5 * time.Second},
		Batch{Size: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Replies != 5 || len(sum.RequestIDs) != 3 {
		t.Fatalf("summary %+v: want 5 replies and 3 signed requests (batch 1 in two chunks, batch 2 in one)", sum)
	}
	want := map[string][]string{"n1": {"n1", "n2"}, "n2": {"n1", "n2"}, "n3": {"n3"}, "n4": {"n4", "n5"}, "n5": {"n4", "n5"}}
	for _, s := range f.requests() {
		if !slices.Equal(s.filter.Identity, want[s.to]) {
			t.Errorf("message to %s names %v, want %v", s.to, s.filter.Identity, want[s.to])
		}
	}
}

func TestDoRefusesTargetsThatAreNotIdentities(t *testing.T) {
	f, c := newFakeFleet(t, "n1")
	_, err := c.Do(context.Background(), Request{Agent: "rpcutil", Action: "ping", Targets: []string{"n1", "/.*/"}, Timeout: time.Second}, nil)
	if err == nil || !strings.Contains(err.Error(), `"/.*/"`) {
		t.Fatalf("err %v", err)
	}
	if n := len(f.requests()); n != 0 {
		t.Fatalf("%d messages published after a refused target", n)
	}
}

// Replies are accepted for every chunk's request id, and for no other.
func TestRequestIDs(t *testing.T) {
	one := newRequestIDs([]string{"a"})
	if !one.has("a") || one.has("b") || one.rest != nil {
		t.Fatalf("single id %+v", one)
	}
	three := newRequestIDs([]string{"a", "b", "c"})
	if !three.has("a") || !three.has("b") || !three.has("c") || three.has("d") || three.has("") {
		t.Fatalf("three ids %+v", three)
	}
}
