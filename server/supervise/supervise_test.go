package supervise

import (
	"context"
	"io"
	"os"
	"syscall"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/server/sdnotify/systemdtest"
)

func quietLog() *logrus.Entry {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return logrus.NewEntry(l)
}

// The loop tells systemd everything a Type=notify-reload unit with a
// watchdog needs, in order, and a SIGHUP runs the reload.
func TestRunReadyReloadWatchdogStop(t *testing.T) {
	sd := systemdtest.Listen(t)
	t.Setenv("WATCHDOG_USEC", "200000") // keep-alives every 100ms
	s := New(quietLog())
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	reloads := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx, "serving", func() string {
			reloads <- struct{}{}
			return "reloaded"
		})
	}()
	if m := sd.WaitFor(t, "READY=1"); m != "READY=1\nSTATUS=serving" {
		t.Fatalf("readiness = %q", m)
	}
	sd.WaitFor(t, "WATCHDOG=1")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	sd.WaitFor(t, "RELOADING=1\nMONOTONIC_USEC=")
	<-reloads
	if m := sd.WaitFor(t, "READY=1"); m != "READY=1\nSTATUS=reloaded" {
		t.Fatalf("after reload = %q", m)
	}
	cancel()
	sd.WaitFor(t, "STOPPING=1")
	<-done
}

// Outside systemd (no NOTIFY_SOCKET) the loop still reloads and stops.
func TestRunWithoutSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	s := New(quietLog())
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	reloads := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx, "serving", func() string { close(reloads); return "reloaded" })
	}()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	<-reloads
	cancel()
	<-done
}
