package login

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// TestConcurrentGuessesLimited: 64 concurrent wrong guesses for one
// user reach bcrypt no more often than the user's burst allows; the
// others are refused as rate limited before any password check.
func TestConcurrentGuessesLimited(t *testing.T) {
	now := time.Unix(1795357850, 0)
	clock := func() time.Time { return now }
	a := loginFixture(t, clock, RateLimit{UserBurst: 5, UserEvery: time.Minute, AddrBurst: 1000, AddrEvery: time.Second})
	var calls atomic.Int64
	var inFlight sync.WaitGroup
	gate := make(chan struct{})
	a.compare = func(hash, pw []byte) error {
		calls.Add(1)
		<-gate // every checked guess waits here: none has failed yet
		return bcrypt.CompareHashAndPassword(hash, pw)
	}
	const guesses = 64
	errs := make(chan error, guesses)
	for i := range guesses {
		inFlight.Go(func() {
			_, err := a.Login(signedRequest("bob.smith", "guess"+string(rune('a'+i%26))+time.Duration(i).String(), now), "10.0.0.1")
			errs <- err
		})
	}
	// five guesses reach the gate; the others wait for them or are refused
	deadline := time.Now().Add(5 * time.Second)
	for calls.Load() < 5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // a sixth would have arrived by now
	close(gate)
	inFlight.Wait()
	close(errs)
	limited, failed := 0, 0
	for err := range errs {
		var rl *RateLimitedError
		switch {
		case errors.As(err, &rl):
			limited++
			if rl.Key != "user" || rl.RetryAfter < time.Second {
				t.Errorf("rate limit = %+v", rl)
			}
		case errors.Is(err, ErrLoginFailed):
			failed++
		default:
			t.Errorf("unexpected %v", err)
		}
	}
	if n := calls.Load(); n > 5 {
		t.Fatalf("%d guesses reached bcrypt, the user's burst is 5", n)
	}
	if failed != 5 || limited != guesses-5 {
		t.Fatalf("failed %d, limited %d; want 5 and %d", failed, limited, guesses-5)
	}
}

// TestPerAddressLimitConcurrent: guesses spread over many user names
// from one address stop at the address's burst.
func TestPerAddressLimitConcurrent(t *testing.T) {
	now := time.Unix(1795357850, 0)
	a := loginFixture(t, func() time.Time { return now }, RateLimit{UserBurst: 5, AddrBurst: 8, AddrEvery: time.Minute})
	var calls atomic.Int64
	a.compare = func(hash, pw []byte) error { calls.Add(1); return bcrypt.CompareHashAndPassword(hash, pw) }
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() { _, _ = a.Login(signedRequest("user"+time.Duration(i).String(), "x", now), "10.9.9.9") })
	}
	wg.Wait()
	if n := calls.Load(); n != 8 {
		t.Fatalf("%d guesses reached bcrypt, the address burst is 8", n)
	}
	// another address is not affected
	if _, err := a.Login(signedRequest("bob.smith", "secret", now), "10.0.0.2"); err != nil {
		t.Fatalf("login from another address: %v", err)
	}
}

// TestConcurrentSuccessesQueue: more concurrent right logins than the
// burst all succeed: those beyond it wait for the ones in flight.
func TestConcurrentSuccessesQueue(t *testing.T) {
	now := time.Unix(1795357850, 0)
	a := loginFixture(t, func() time.Time { return now }, RateLimit{UserBurst: 2, UserEvery: time.Hour, AddrBurst: 2, AddrEvery: time.Hour})
	var wg sync.WaitGroup
	errs := make(chan error, 12)
	for range 12 {
		wg.Go(func() {
			_, err := a.Login(signedRequest("bob.smith", "secret", now), "10.0.0.1")
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestSuccessRefunds: successful logins do not spend the user's attempts.
func TestSuccessRefunds(t *testing.T) {
	now := time.Unix(1795357850, 0)
	a := loginFixture(t, func() time.Time { return now }, RateLimit{UserBurst: 2, UserEvery: time.Hour, AddrBurst: 2, AddrEvery: time.Hour})
	for i := range 10 {
		if _, err := a.Login(signedRequest("bob.smith", "secret", now.Add(time.Duration(i)*time.Millisecond)), "10.0.0.1"); err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
		now = now.Add(time.Second) // a new login body each time
	}
}
