package process

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/agents"
	"github.com/tuttifleet/tutti/connector/protocol"
)

func build(t *testing.T) agents.Agent {
	t.Helper()
	a, err := NewWith(Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, err = agents.WithDDL(a, DDL)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func call(a agents.Agent, action string, in map[string]any) agents.Reply {
	data, _ := json.Marshal(in)
	return a.Run(context.Background(), action, &agents.Request{Agent: "process", Action: action, Data: data})
}

func TestListAndKill(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	a := build(t)
	marker := "tutti-process-test-" + strconv.Itoa(os.Getpid())
	cmd := &exec.Cmd{Path: "/bin/sleep", Args: []string{marker, "300"}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var list []Proc
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && len(list) == 0; time.Sleep(10 * time.Millisecond) {
		rep := call(a, "list", map[string]any{"pattern": "^" + marker + " 300$"})
		list = rep.Data.(map[string]any)["pslist"].([]Proc)
	}
	if len(list) != 1 || list[0].PID != cmd.Process.Pid || list[0].PPID != os.Getpid() || list[0].Username == "" || list[0].RSS == 0 {
		t.Fatalf("list: %+v", list)
	}
	rep := call(a, "list", map[string]any{"pattern": marker, "user": "no-such-user-here"})
	if rep.Data.(map[string]any)["count"] != 0 {
		t.Fatalf("unknown user: %+v", rep)
	}
	rep = call(a, "kill", map[string]any{"pid": cmd.Process.Pid, "signal": "USR1"})
	if rep.StatusCode != protocol.OK || rep.Data.(map[string]any)["killed"] != 1 {
		t.Fatalf("kill: %+v", rep)
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "user defined signal 1") {
		t.Fatalf("sleep did not get USR1: %v", err)
	}
	rep = call(a, "kill", map[string]any{"pid": cmd.Process.Pid})
	if rep.StatusCode != protocol.Aborted || !strings.Contains(rep.StatusMsg, "no such process") {
		t.Fatalf("kill a dead process: %+v", rep)
	}
}

func TestKillRefused(t *testing.T) {
	a := build(t)
	for _, tc := range []struct {
		in   map[string]any
		code protocol.StatusCode
		want string
	}{
		{map[string]any{"pid": 1}, protocol.InvalidData, "PID 1 is init"},
		{map[string]any{"pid": os.Getpid()}, protocol.InvalidData, "is tuttid itself"},
		{map[string]any{"pid": -1}, protocol.InvalidData, "process group or every process"},
		{map[string]any{"pid": 0}, protocol.InvalidData, "process group or every process"},
		{map[string]any{"pid": 2.5}, protocol.InvalidData, "must be an integer"},
		{map[string]any{"pid": "12"}, protocol.InvalidData, "must be an integer"},
		{map[string]any{}, protocol.MissingData, "needs a pid or a pattern"},
		{map[string]any{"pid": 5, "pattern": "x"}, protocol.InvalidData, "not both"},
		{map[string]any{"pattern": "(x"}, protocol.InvalidData, "is not a regular expression"},
		{map[string]any{"pattern": "x", "signal": "SEGV"}, protocol.InvalidData, "is not one of"},
		{map[string]any{"pattern": "no-process-has-this-cmdline-" + strconv.Itoa(os.Getpid()) + "$^"}, protocol.Aborted, "No process matches"},
	} {
		rep := call(a, "kill", tc.in)
		if rep.StatusCode != tc.code || !strings.Contains(rep.StatusMsg, tc.want) {
			t.Errorf("kill %v: %+v, want %d %q", tc.in, rep, tc.code, tc.want)
		}
	}
	// a pattern matching this process skips it
	self, _ := os.ReadFile("/proc/self/cmdline")
	arg0, _, _ := strings.Cut(string(self), "\x00")
	rep := call(a, "kill", map[string]any{"pattern": "^" + regexpQuote(arg0), "signal": "CONT"})
	if d, _ := rep.Data.(map[string]any); rep.StatusCode != protocol.OK || len(d["skipped"].([]int)) == 0 || !contains(d["skipped"].([]int), os.Getpid()) {
		t.Fatalf("pattern matching the daemon: %+v", rep)
	}
}

func contains(l []int, v int) bool {
	for _, x := range l {
		if x == v {
			return true
		}
	}
	return false
}

func regexpQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func TestParseStat(t *testing.T) {
	line := "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 777 12345678 300 18446744073709551615\n"
	pr, err := parseStat([]byte(line))
	if err != nil || pr.PID != 4242 || pr.Comm != "a (weird) name" || pr.State != "S" || pr.PPID != 1 || pr.StartTime != 777 ||
		pr.VSize != 12345678 || pr.RSS != 300*pageSize {
		t.Fatalf("%+v %v", pr, err)
	}
	for _, bad := range []string{"", "x (y) S", "0 (y) S 1", "12 y S 1 2 3", "12 (y) S x 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	if parseUID([]byte("Name:\tx\nUid:\t1000\t1000\t1000\t1000\n")) != 1000 || parseUID([]byte("Name: x\n")) != -1 {
		t.Fatal("parseUID")
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 777 12345678 300 0\n"))
	f.Add([]byte("1 () R 0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pr, err := parseStat(b)
		if err == nil && pr.PID <= 0 {
			t.Fatalf("PID %d from %q", pr.PID, b)
		}
		parseUID(b)
	})
}
