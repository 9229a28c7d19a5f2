// Package systemdtest is a fake systemd notification socket, for tests
// of daemons that report their state through server/sdnotify (tuttid,
// tuttid broker, tutti-aaa): READY=1, RELOADING=1, STOPPING=1, WATCHDOG=1
// and STATUS=… datagrams on the unixgram socket named by NOTIFY_SOCKET.
package systemdtest

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// NotifySocket receives the notifications sent to NOTIFY_SOCKET.
type NotifySocket struct {
	// Timeout is how long WaitFor waits; Listen sets 15 s.
	Timeout time.Duration

	msgs chan string
}

// Listen binds a notification socket in t.TempDir() and points
// NOTIFY_SOCKET at it for the rest of the test (t.Setenv, so not in
// parallel tests). The socket is closed when the test ends.
func Listen(t testing.TB) *NotifySocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	pc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatalf("systemdtest: listen on %s: %v", path, err)
	}
	t.Setenv("NOTIFY_SOCKET", path)
	s := &NotifySocket{Timeout: 15 * time.Second, msgs: make(chan string, 1000)}
	done := make(chan struct{})
	t.Cleanup(func() {
		close(done)
		pc.Close()
	})
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := pc.Read(buf)
			if err != nil {
				return
			}
			select {
			case s.msgs <- string(buf[:n]):
			case <-done:
				return
			}
		}
	}()
	return s
}

// WaitFor returns the first datagram that contains want, dropping those
// before it, and fails the test when none arrives within s.Timeout.
func (s *NotifySocket) WaitFor(t testing.TB, want string) string {
	t.Helper()
	timeout := time.NewTimer(s.Timeout)
	defer timeout.Stop()
	for {
		select {
		case m := <-s.msgs:
			if strings.Contains(m, want) {
				return m
			}
		case <-timeout.C:
			t.Fatalf("systemdtest: no %q notification within %s", want, s.Timeout)
			return ""
		}
	}
}
