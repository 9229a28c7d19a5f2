package daemon_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/server/sdnotify/systemdtest"
)

// TestNodeRefusesWhenTheAuditFileCannotBeWritten: the node's audit file
// moves (as log rotation moves it) onto a disk that is full; the node
// refuses the next action (fail closed, the default) with a status that
// says why, the action does not run, and once there is room again the
// node runs actions and audits them. The disk is /dev/full (every write
// fails with ENOSPC, no privilege needed) and, where the test may mount
// one, a small tmpfs filled to the last byte.
func TestNodeRefusesWhenTheAuditFileCannotBeWritten(t *testing.T) {
	t.Run("dev-full", func(t *testing.T) {
		if _, err := os.Stat("/dev/full"); err != nil {
			t.Skipf("no /dev/full: %v", err)
		}
		testAuditDiskFull(t, func(t *testing.T, dir string) (string, func() string) {
			return "/dev/full", func() string {
				fresh := filepath.Join(dir, "audit.log.fresh")
				write(t, fresh, "")
				if err := os.Rename(fresh, filepath.Join(dir, "audit.log")); err != nil {
					t.Fatal(err)
				}
				return filepath.Join(dir, "audit.log")
			}
		})
	})
	t.Run("tmpfs", func(t *testing.T) {
		testAuditDiskFull(t, func(t *testing.T, dir string) (string, func() string) {
			disk := filepath.Join(dir, "disk")
			if err := os.Mkdir(disk, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Mount("tmpfs", disk, "tmpfs", 0, "size=64k"); err != nil {
				t.Skipf("cannot mount a tmpfs (needs root): %v", err)
			}
			t.Cleanup(func() { _ = syscall.Unmount(disk, syscall.MNT_DETACH) })
			target := filepath.Join(disk, "audit.log")
			write(t, target, "")
			filler := filepath.Join(disk, "filler")
			fillDisk(t, filler)
			return target, func() string {
				if err := os.Remove(filler); err != nil {
					t.Fatal(err)
				}
				return target
			}
		})
	})
}

// testAuditDiskFull runs a node, makes its audit file path point at
// full (a full disk's file), checks the refusal, then calls free and
// checks the node audits and runs again in the file free returns.
func testAuditDiskFull(t *testing.T, full func(t *testing.T, dir string) (target string, free func() string)) {
	sd := systemdtest.Listen(t)
	f := startFleet(t, sd, "")
	if code := f.call(t, "rpcutil", "ping"); code != protocol.OK {
		t.Fatalf("ping before the disk filled: %v", code)
	}
	ran := grep(f.scrape(t), `tutti_node_requests_total{action="ping",agent="rpcutil"`)
	if !strings.HasSuffix(ran, " 1") {
		t.Fatalf("the first ping was not counted: %q", ran)
	}
	target, free := full(t, f.dir)
	link := filepath.Join(f.dir, "audit.log.full")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(link, filepath.Join(f.dir, "audit.log")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // the node looks for a moved audit file once a second

	r := f.reply(t, "rpcutil", "ping")
	if r.StatusCode != protocol.Aborted || r.StatusMsg != "Request could not be audited and auditing is required on this node" {
		t.Fatalf("reply with a full disk: %v %q", r.StatusCode, r.StatusMsg)
	}
	m := f.scrape(t)
	if got := grep(m, `tutti_node_requests_total{action="ping",agent="rpcutil"`); got != ran {
		t.Errorf("the action ran although its record could not be written: %q, was %q", got, ran)
	}
	if got := grep(m, `tutti_node_agent_refused_total{agent="rpcutil",reason="audit"}`); !strings.HasSuffix(got, " 1") {
		t.Errorf("refusal not counted: %q", got)
	}
	if log := f.log(t); !strings.Contains(log, "Cannot write the audit records") || !strings.Contains(log, "no space left on device") {
		t.Errorf("the full disk is not logged:\n%s", log)
	}

	file := free()
	if code := f.call(t, "rpcutil", "ping"); code != protocol.OK {
		t.Fatalf("ping once the disk has room: %v", code)
	}
	if b := readFile(t, file); strings.Count(b, `"action":"ping"`) < 2 { // the decision and the outcome
		t.Fatalf("the ping after the disk has room is not audited in %s:\n%s", file, b)
	}
}

// fillDisk writes path until the file system is full.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	buf := make([]byte, 512)
	for {
		if _, err := fh.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill the disk: %v", err)
			}
			return
		}
	}
}
