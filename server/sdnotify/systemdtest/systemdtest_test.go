package systemdtest

import (
	"net"
	"os"
	"testing"
	"time"
)

func notify(t *testing.T, msg string) {
	t.Helper()
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: os.Getenv("NOTIFY_SOCKET"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
}

func TestWaitFor(t *testing.T) {
	s := Listen(t)
	notify(t, "WATCHDOG=1")
	notify(t, "READY=1\nSTATUS=serving")
	notify(t, "STOPPING=1")
	if m := s.WaitFor(t, "READY=1"); m != "READY=1\nSTATUS=serving" {
		t.Fatalf("WaitFor(READY=1) = %q", m)
	}
	// The datagram before READY=1 was dropped, the one after is kept.
	if m := s.WaitFor(t, "=1"); m != "STOPPING=1" {
		t.Fatalf("next datagram = %q, want STOPPING=1", m)
	}
}

// fakeTB records a failure instead of ending the test.
type fakeTB struct {
	testing.TB
	failed string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = format
}

func TestWaitForTimesOut(t *testing.T) {
	s := Listen(t)
	s.Timeout = 50 * time.Millisecond
	notify(t, "WATCHDOG=1")
	f := &fakeTB{TB: t}
	if m := s.WaitFor(f, "READY=1"); m != "" || f.failed == "" {
		t.Fatalf("WaitFor without the notification = %q, failure %q", m, f.failed)
	}
}
