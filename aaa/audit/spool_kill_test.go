package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Environment of the child process of TestSpoolKill9.
const (
	killChildDir   = "TUTTI_TEST_SPOOL_KILL_DIR"
	killChildURL   = "TUTTI_TEST_SPOOL_KILL_URL"
	killChildSub   = "TUTTI_TEST_SPOOL_KILL_SUBJECT"
	killChildFsync = "TUTTI_TEST_SPOOL_KILL_FSYNC_INTERVAL"
	killWriters    = 4
)

// TestSpoolKill9: a process writing records through a spool to a real
// JetStream as fast as it can (4 writers, so group commits) prints each
// record once Audit returned nil, and is killed with SIGKILL mid-stream.
// Every record it printed is on disk or in the stream: after the spool
// is reopened, the stream holds each record exactly once, every writer's
// in order, and nothing is left to deliver. Twice: with the stream
// taking the records while the child runs (the reopened spool sends
// again what was stored but not yet marked delivered, and the stream
// drops the duplicates), and with the stream unreachable for the child
// (every record waits on disk). Then both again with the fsync deferred
// (SpoolConfig.FsyncInterval): a record Audit returned nil for is
// written, in the kernel's page cache, which a kill -9 does not lose.
func TestSpoolKill9(t *testing.T) {
	if dir := os.Getenv(killChildDir); dir != "" {
		fsync, _ := time.ParseDuration(os.Getenv(killChildFsync))
		spoolKillChild(dir, os.Getenv(killChildURL), os.Getenv(killChildSub), fsync)
		return
	}
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	for _, fsync := range []time.Duration{0, time.Hour} {
		t.Run(fmt.Sprintf("fsync=%v/delivering", fsync), func(t *testing.T) { testSpoolKill9(t, "audit.node1", fsync) })
		// no stream captures it: every publish fails, as in an outage
		t.Run(fmt.Sprintf("fsync=%v/outage", fsync), func(t *testing.T) { testSpoolKill9(t, "nowhere.node1", fsync) })
	}
}

func testSpoolKill9(t *testing.T, childSubject string, fsync time.Duration) {
	url := startJetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, stream := createStream(ctx, t, url, jetstream.StreamConfig{Name: "AUDIT", Subjects: []string{"audit.>"}, Duplicates: time.Hour})
	dir := t.TempDir()
	printed := runKilledChild(t, dir, url, childSubject, fsync)
	before, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the child printed %d records before SIGKILL; the stream held %d", len(printed), before.State.Msgs)
	if childSubject != "audit.node1" && before.State.Msgs != 0 {
		t.Fatalf("the stream held %d records during the outage", before.State.Msgs)
	}

	pub, err := NewJetStream(JetStreamConfig{Servers: url, Subject: "audit.node1"})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	s, err := NewSpool(SpoolConfig{Dir: dir}, pub, nil)
	if err != nil {
		t.Fatalf("reopen the spool after SIGKILL: %v", err)
	}
	defer s.Close()
	waitFor(t, "the reopened spool delivers everything", func() bool { return s.Stats().PendingBytes == 0 })

	stored := map[int]bool{}
	last := map[int]int{} // writer → its last number in the stream
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= info.State.LastSeq; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range MessageLines(m.Data) {
			n := recordNumber(t, l)
			if stored[n] {
				t.Fatalf("record %d is twice in the stream (seq %d)", n, seq)
			}
			stored[n] = true
			w, i := n/1_000_000, n%1_000_000
			if prev, ok := last[w]; (ok && i != prev+1) || (!ok && i != 0) {
				t.Fatalf("writer %d: record %d follows %d in the stream (seq %d)", w, i, prev, seq)
			}
			last[w] = i
		}
	}
	for _, n := range printed {
		if !stored[n] {
			t.Fatalf("record %d was acknowledged to the child but is not in the stream after SIGKILL and reopen", n)
		}
	}
}

// runKilledChild runs this test in a child process spooling to dir and
// SIGKILLs it once it has printed a few hundred records, in the middle
// of its writes; it returns the records the child printed.
func runKilledChild(t *testing.T, dir, url, subject string, fsync time.Duration) []int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSpoolKill9$")
	cmd.Env = append(os.Environ(), killChildDir+"="+dir, killChildURL+"="+url, killChildSub+"="+subject, killChildFsync+"="+fsync.String())
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var printed []int
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		n, ok := strings.CutPrefix(sc.Text(), "spooled ")
		if !ok {
			continue
		}
		i, err := strconv.Atoi(n)
		if err != nil {
			t.Fatalf("child printed %q", sc.Text())
		}
		printed = append(printed, i)
		if len(printed) == 500 {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true // lines already in the pipe are still read
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("the child ended before it was killed: %v", err)
	}
	if st, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !st.Signaled() || st.Signal() != syscall.SIGKILL {
		t.Fatalf("the child was not killed by SIGKILL: %v", err)
	}
	return printed
}

// spoolKillChild writes records until it is killed, printing each one
// once the spool has it on disk.
func spoolKillChild(dir, url, subject string, fsync time.Duration) {
	pub, err := NewJetStream(JetStreamConfig{Servers: url, Subject: subject, Timeout: 200 * time.Millisecond})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	s, err := NewSpool(SpoolConfig{Dir: dir, SegmentBytes: 64 << 10, FsyncInterval: fsync}, pub, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for w := range killWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				n := w*1_000_000 + i
				if err := s.Audit(context.Background(), numbered(n)); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintf(out, "spooled %d\n", n)
				_ = out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// recordNumber is the n of numbered(n) in a stored line.
func recordNumber(t *testing.T, line []byte) int {
	t.Helper()
	var r struct {
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal(line, &r); err != nil {
		t.Fatalf("stored line %q: %v", line, err)
	}
	n, err := strconv.Atoi(strings.TrimPrefix(r.RequestID, "req-"))
	if err != nil {
		t.Fatalf("stored line %q: %v", line, err)
	}
	return n
}
