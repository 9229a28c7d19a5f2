package server

import (
	"fmt"
	"testing"
	"time"
)

func TestCallerRatesTokenBucket(t *testing.T) {
	var c callerRates
	now := time.Unix(1_000_000, 0)
	allowed := 0
	for range 10 {
		if c.allow("choria=a", now, 1, 3) {
			allowed++
		}
	}
	if allowed != 3 {
		t.Errorf("%d of 10 allowed at once with burst 3", allowed)
	}
	if !c.allow("choria=b", now, 1, 3) {
		t.Error("another caller was limited by the first one's bucket")
	}
	if !c.allow("choria=a", now.Add(1100*time.Millisecond), 1, 3) {
		t.Error("no token after a second at 1/s")
	}
	for range 100 {
		if !c.allow("choria=a", now, 0, 0) {
			t.Fatal("limited with the limit off")
		}
	}
}

func TestCallerRatesBounded(t *testing.T) {
	var c callerRates
	now := time.Unix(1_000_000, 0)
	for i := range maxTrackedCallers + 100 {
		c.allow(fmt.Sprintf("choria=c%d", i), now, 0, 0)
	}
	if len(c.callers) > maxTrackedCallers+1 {
		t.Fatalf("%d callers tracked, bound %d", len(c.callers), maxTrackedCallers)
	}
	// once idle, old callers make room for new ones
	later := now.Add(3 * rateWindow)
	c.allow("choria=new", later, 0, 0)
	if _, ok := c.callers["choria=new"]; !ok || len(c.callers) > 2 {
		t.Errorf("idle callers not forgotten: %d tracked", len(c.callers))
	}
}

func TestCallerRatesTop(t *testing.T) {
	var c callerRates
	now := time.Unix(1_000_000, 0).Truncate(rateWindow)
	for i := range 15 {
		for range (i + 1) * 10 {
			c.allow(fmt.Sprintf("choria=c%02d", i), now, 0, 0)
		}
	}
	if got := c.top(now, topCallers); len(got) != 0 {
		t.Errorf("rates before the window completed: %v", got)
	}
	got := c.top(now.Add(rateWindow), topCallers)
	if len(got) != topCallers || got[0].caller != "choria=c14" || got[0].rate != 15 {
		t.Fatalf("top callers %v", got)
	}
	if got := c.top(now.Add(3*rateWindow), topCallers); len(got) != 0 {
		t.Errorf("rates of a window long past: %v", got)
	}
}

func TestAgentSlots(t *testing.T) {
	var a agentSlots
	var held []func()
	for range 2 {
		release, ok := a.acquire("x", 2)
		if !ok {
			t.Fatal("refused below the cap")
		}
		held = append(held, release)
	}
	if _, ok := a.acquire("x", 2); ok {
		t.Fatal("acquired over the cap")
	}
	if _, ok := a.acquire("y", 2); !ok {
		t.Fatal("another agent refused")
	}
	held[0]()
	if _, ok := a.acquire("x", 2); !ok {
		t.Fatal("refused after a release")
	}
	for range 100 {
		if _, ok := a.acquire("z", 0); !ok {
			t.Fatal("refused with no cap")
		}
	}
}

// BenchmarkCallerRatesAllow is the per-request cost of the rate
// tracking (metrics on) and of the token bucket (rate limit on).
func BenchmarkCallerRatesAllow(b *testing.B) {
	now := time.Unix(1_000_000, 0)
	for _, limit := range []float64{0, 1e9} {
		b.Run(fmt.Sprintf("limit=%g", limit), func(b *testing.B) {
			var c callerRates
			for i := 0; b.Loop(); i++ {
				c.allow("choria=tester.mcollective", now.Add(time.Duration(i)), limit, 0)
			}
		})
	}
}
