package server

import "testing"

// BenchmarkSchedulerHandoff is the scheduler's part of handing one
// message to a worker on a node that is not busy (the common case in a
// fleet: a request at a time): a push and the pop that empties the
// queue again.
func BenchmarkSchedulerHandoff(b *testing.B) {
	var s scheduler
	j := tagged("x")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s.push("choria=rip.mcollective", j, 1024)
		if _, ok := s.pop(); !ok {
			b.Fatal("empty")
		}
	}
}
