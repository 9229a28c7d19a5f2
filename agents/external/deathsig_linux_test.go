package external

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/agents"
)

// daemonEnv names, in the re-executed test binary, the agent directory
// of the "daemon" that runs a hanging action.
const daemonEnv = "TUTTI_TEST_DEATHSIG_DAEMON"

// TestDeathsigDaemon is the daemon TestAgentDiesWithDaemon kills: it
// runs the tester's hang action and is SIGKILLed while it waits.
func TestDeathsigDaemon(t *testing.T) {
	dir := os.Getenv(daemonEnv)
	if dir == "" {
		t.Skip("run by TestAgentDiesWithDaemon")
	}
	a, _ := load(t, dir, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a.Run(ctx, "hang", &agents.Request{Agent: "tester", Action: "hang", CallerID: "choria=alice.mcollective",
		RequestID: "r1", Collective: "mcollective", Time: time.Now(), TTL: time.Minute})
}

// An external agent does not outlive a daemon killed with SIGKILL: the
// kernel kills it (parent-death signal). The agent's own children are
// systemd's to end (KillMode=control-group).
func TestAgentDiesWithDaemon(t *testing.T) {
	dir := install(t)
	daemon := exec.Command(os.Args[0], "-test.run=^TestDeathsigDaemon$", "-test.count=1")
	daemon.Env = append(os.Environ(), daemonEnv+"="+dir)
	daemon.Stdout, daemon.Stderr = os.Stderr, os.Stderr
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	defer daemon.Process.Kill()
	// The hang action writes its child's pid once it runs; the agent is
	// that child's parent.
	var grandchild int
	waitFor(t, "the agent to start", func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "child.pid"))
		grandchild, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	agent := ppid(t, grandchild)
	if got := ppid(t, agent); got != daemon.Process.Pid {
		t.Fatalf("agent %d has parent %d, not the daemon %d", agent, got, daemon.Process.Pid)
	}
	t.Cleanup(func() { _ = syscall.Kill(-agent, syscall.SIGKILL) }) // its group: the sleep left behind
	if err := daemon.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = daemon.Wait()
	waitFor(t, "the agent to die with its daemon", func() bool { return !alive(agent) })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// stat returns the fields of /proc/pid/stat after the command name.
func stat(pid int) ([]string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, errors.New("no command name in /proc stat")
	}
	return strings.Fields(string(b[i+1:])), nil
}

func ppid(t *testing.T, pid int) int {
	t.Helper()
	f, err := stat(pid)
	if err != nil || len(f) < 2 {
		t.Fatalf("stat %d: %v", pid, err)
	}
	p, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// alive says whether pid runs; a zombie (killed, not yet reaped by
// whoever inherited it) does not.
func alive(pid int) bool {
	f, err := stat(pid)
	return err == nil && len(f) > 0 && f[0] != "Z" && f[0] != "X"
}
