package server

import (
	"testing"

	"github.com/tuttifleet/tutti/connector"
)

// tagged is a job told apart by its destination's identity.
func tagged(tag string) job { return job{from: connector.Destination{Identity: tag}} }

func drain(s *scheduler) []string {
	var out []string
	for {
		j, ok := s.pop()
		if !ok {
			return out
		}
		out = append(out, j.from.Identity)
	}
}

func TestSchedulerRoundRobin(t *testing.T) {
	var s scheduler
	for _, c := range []struct{ caller, tag string }{{"a", "a1"}, {"a", "a2"}, {"a", "a3"}, {"b", "b1"}, {"c", "c1"}, {"b", "b2"}} {
		if d, _ := s.push(c.caller, tagged(c.tag), 100); d != nil {
			t.Fatalf("%s dropped below the limit", c.tag)
		}
	}
	got := drain(&s)
	want := []string{"a1", "b1", "c1", "a2", "b2", "a3"}
	if len(got) != len(want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order %v, want %v", got, want)
		}
	}
	if s.queued != 0 || len(s.callers) != 0 || len(s.turns) != 0 {
		t.Errorf("not empty after draining: %d queued, %d callers, %d turns", s.queued, len(s.callers), len(s.turns))
	}
}

func TestSchedulerFullQueue(t *testing.T) {
	var s scheduler
	const limit = 4
	for i := range limit {
		s.push("flood", tagged("f"+string(rune('0'+i))), limit)
	}
	// the flooder's own arrival is refused
	if d, r := s.push("flood", tagged("f4"), limit); d == nil || d.from.Identity != "f4" || r != busyQueueFull {
		t.Fatalf("flooder's arrival on a full queue: dropped %v (%s), want f4 refused", d, r)
	}
	// another caller's arrival pushes out the flooder's newest
	if d, r := s.push("ping", tagged("p0"), limit); d == nil || d.from.Identity != "f3" || r != busyDisplaced {
		t.Fatalf("other caller's arrival on a full queue: dropped %v (%s), want f3 displaced", d, r)
	}
	if s.queued != limit {
		t.Fatalf("%d queued, want %d", s.queued, limit)
	}
	if got := drain(&s); len(got) != 4 || got[1] != "p0" {
		t.Errorf("order %v, want the ping second", got)
	}
}

// TestSchedulerDisplacesLastJob: when every caller holds one request, a
// new caller's arrival displaces one of them, and the displaced caller,
// left with nothing queued, leaves the turns.
func TestSchedulerDisplacesLastJob(t *testing.T) {
	var s scheduler
	s.push("a", tagged("a1"), 2)
	s.push("b", tagged("b1"), 2)
	if d, r := s.push("c", tagged("c1"), 2); d == nil || r != busyDisplaced {
		t.Fatalf("c1 on a full queue of single requests: dropped %v (%s)", d, r)
	}
	if len(s.turns) != 2 || len(s.callers) != 2 {
		t.Fatalf("%d turns, %d callers after displacing a caller's only request", len(s.turns), len(s.callers))
	}
	if got := drain(&s); len(got) != 2 {
		t.Errorf("drained %v", got)
	}
}
