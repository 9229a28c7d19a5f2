package bench_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tuttifleet/tutti/cmd/tutti/cli"
	"github.com/tuttifleet/tutti/cmd/tutti/internal/bench"
)

// init lets tutti bench run this test binary as its broker and
// emulator children, as the real binary runs itself. It is an init, not
// part of TestMain, so a child never reaches the tests' setup.
func init() {
	if os.Getenv(bench.WorkerEnv) == "1" {
		os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
}

// runCLI runs tutti with args, as a user would.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestBenchSmallFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := t.TempDir()
	out, plot := filepath.Join(dir, "bench.json"), filepath.Join(dir, "bench.svg")
	code, stdout, stderr := runCLI(t, "bench", "--nodes", "3,5", "--runs", "2", "--workdir", filepath.Join(dir, "work"),
		"--out", out, "--plot", plot, "--audit", "discard")
	if code != cli.ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"ping min/med/max", "node CPU/req", "\n      5 "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"rss_settled_per_node_bytes"`) {
		t.Errorf("no settled RSS in %s", b)
	}
	if rep.Runs != 2 || rep.Key != "ecdsa" || rep.Machine.CPUs < 1 || len(rep.Results) != 2 {
		t.Fatalf("report %+v", rep)
	}
	for i, n := range []int{3, 5} {
		r := rep.Results[i]
		if r.Nodes != n || r.StartSeconds <= 0 || r.WarmupSeconds <= 0 || r.RSSIdlePerNode == 0 || r.RSSAfterPerNode == 0 {
			t.Errorf("result %d: %+v", n, r)
		}
		for name, s := range map[string]bench.Series{"ping": r.Ping, "rpc": r.RPC} {
			if len(s.Seconds) != 2 || s.Replies != 2*n || s.Failed != 0 || s.Missing != 0 {
				t.Errorf("%d nodes %s: %+v", n, name, s)
			}
			if !(0 < s.Min && s.Min <= s.Median && s.Median <= s.Max) {
				t.Errorf("%d nodes %s: min %v median %v max %v", n, name, s.Min, s.Median, s.Max)
			}
			if s.NodeCPUms <= 0 || s.ClientCPUus <= 0 || s.BrokerCPUms <= 0 || s.CPUBoundSeconds <= 0 {
				t.Errorf("%d nodes %s: CPU node %v ms client %v µs broker %v ms", n, name, s.NodeCPUms, s.ClientCPUus, s.BrokerCPUms)
			}
		}
	}
	svg, err := os.ReadFile(plot)
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(svg, new(struct{})); err != nil {
		t.Fatalf("plot is not well-formed XML: %v", err)
	}
	if strings.Count(string(svg), "<circle") != 2*2 { // ping and rpc × 2 sizes
		t.Errorf("plot has %d circles:\n%s", strings.Count(string(svg), "<circle"), svg)
	}
	// --from prints and plots saved results without measuring.
	plot2 := filepath.Join(dir, "again.svg")
	code, stdout, _ = runCLI(t, "bench", "--from", out, "--plot", plot2)
	if again, _ := os.ReadFile(plot2); code != cli.ExitOK || !strings.Contains(stdout, "\n      5 ") || string(again) != string(svg) {
		t.Errorf("--from: exit %d, same plot %v\n%s", code, string(again) == string(svg), stdout)
	}
	// The second run reuses the workdir: node certificates come from the
	// cache. With --emulator-gogc and --profile: each worker's memory
	// classes at the end of the runs.
	prof := filepath.Join(dir, "prof")
	code, stdout, stderr = runCLI(t, "bench", "--nodes", "5", "--runs", "1", "--workdir", filepath.Join(dir, "work"), "--out", out,
		"--emulator-gogc", "50", "--profile", prof)
	if code != cli.ExitOK {
		t.Fatalf("rerun: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "emulators GOGC=50") {
		t.Errorf("rerun output does not name the emulators' GOGC:\n%s", stdout)
	}
	for _, name := range []string{"emulate.n5.1.mem.txt", "broker.1.mem.txt"} {
		mem, err := os.ReadFile(filepath.Join(prof, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"VmRSS:bytes", "/memory/classes/heap/stacks:bytes", "/gc/heap/live:bytes", "after GC"} {
			if !strings.Contains(string(mem), want) {
				t.Errorf("%s lacks %q:\n%s", name, want, mem)
			}
		}
		if name == "emulate.n5.1.mem.txt" && !regexp.MustCompile(`/gc/gogc:percent +50 +50`).Match(mem) {
			t.Errorf("%s: the emulator's GOGC is not 50:\n%s", name, mem)
		}
	}
}

func TestBenchRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--nodes", "0"}, {"--runs", "0"}, {"--key", "rsa"}, {"--audit", "syslog"},
		{"--brokers", "0"}, {"--brokers", "65"}, {"--node-set", "novalue"}, {"--node-set", "=1"}, {"--emulator-gogc", "-1"},
	} {
		if code, _, _ := runCLI(t, append([]string{"bench"}, args...)...); code != cli.ExitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, cli.ExitUsage)
		}
	}
}

// With --audit stream every node's records reach the broker's audit
// stream on the node's own subject, as many as in the audit file; with
// --node-set stream_linger=0 each record is a message of its own.
func TestBenchAuditStream(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "bench.json")
	code, stdout, stderr := runCLI(t, "bench", "--nodes", "3,4", "--runs", "2", "--workdir", filepath.Join(dir, "work"),
		"--out", out, "--audit", "stream", "--node-set", "plugin.tutti.audit.stream_linger = 0")
	if code != cli.ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "audit stream:") || !strings.Contains(stdout, "0 missing, 0 extra") {
		t.Errorf("output lacks the stream check:\n%s", stdout)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	prev := 0
	for _, r := range rep.Results {
		c := r.AuditStream
		if c == nil {
			t.Fatalf("%d nodes: no stream check in %s", r.Nodes, b)
		}
		// each size's nodes are emu-00001…: counts add up over the sizes
		if c.Records <= prev || c.Stored != c.Records || c.Messages != c.Records || c.Missing != 0 || c.Extra != 0 || c.Nodes != r.Nodes {
			t.Errorf("%d nodes: %+v", r.Nodes, c)
		}
		if s := c.Spool; s == nil || s.Spooled == 0 || s.Delivered != s.Spooled || s.PendingBytes != 0 {
			t.Errorf("%d nodes: spool %+v", r.Nodes, s)
		}
		prev = c.Records
	}
}

// With --brokers the nodes are spread over the brokers but the client's,
// in several emulators, and every broker is reported; the brokers' one
// JetStream holds the replicated audit stream, which gets every record.
func TestBenchCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "bench.json")
	code, stdout, stderr := runCLI(t, "bench", "--brokers", "3", "--nodes", "5", "--runs", "1", "--audit", "stream",
		"--workdir", filepath.Join(dir, "work"), "--out", out)
	if code != cli.ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"3 brokers (the client alone on broker-1)", "broker-3", "slowest reply", "0 missing, 0 extra, 5 nodes complete"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	r := rep.Results[0]
	if rep.Brokers != 3 || len(r.Brokers) != 3 || r.Emulators != 2 || r.Ping.Replies != 5 || r.Ping.Missing != 0 {
		t.Fatalf("report %s", b)
	}
	if r.Brokers[0].Nodes != 0 || r.Brokers[1].Nodes != 3 || r.Brokers[2].Nodes != 2 {
		t.Errorf("nodes per broker %+v", r.Brokers)
	}
	if r.Memory.Processes != 6 || r.Memory.RSSBytes <= 0 || r.Memory.PeakRSSBytes < r.Memory.RSSBytes {
		t.Errorf("memory %+v", r.Memory)
	}
	for _, br := range r.Brokers {
		if br.RSSBytes <= 0 || br.PingCPUms <= 0 {
			t.Errorf("broker %+v", br)
		}
	}
}

// With --leaf the leaf broker, which holds every node connection, is
// measured with the hub: its own line, its CPU and its memory.
func TestBenchLeaf(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "bench.json")
	code, stdout, stderr := runCLI(t, "bench", "--leaf", "--nodes", "3", "--runs", "1", "--audit", "discard",
		"--workdir", filepath.Join(dir, "work"), "--out", out)
	if code != cli.ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"hub + leaf", " hub ", " leaf "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "one broker") {
		t.Errorf("output calls --leaf one broker:\n%s", stdout)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	r := rep.Results[0]
	if !rep.Leaf || len(r.Brokers) != 2 || r.Ping.Replies != 3 || r.Ping.Missing != 0 {
		t.Fatalf("report %s", b)
	}
	hub, leaf := r.Brokers[0], r.Brokers[1]
	if hub.Name != "hub" || !hub.Client || hub.Nodes != 0 || leaf.Name != "leaf" || leaf.Client || leaf.Nodes != 3 || leaf.Emulators != 1 {
		t.Errorf("brokers %+v", r.Brokers)
	}
	// hub, leaf, one emulator and the client
	if r.Memory.Processes != 4 || r.Memory.RSSBytes < hub.RSSBytes+leaf.RSSBytes {
		t.Errorf("memory %+v, brokers %+v", r.Memory, r.Brokers)
	}
	for _, br := range r.Brokers {
		if br.RSSBytes <= 0 || br.PingCPUms <= 0 || br.RPCCPUms <= 0 {
			t.Errorf("broker %+v", br)
		}
	}
	// every broker's CPU is in the total
	if sum := hub.PingCPUms + leaf.PingCPUms; r.Ping.BrokerCPUms < sum*0.999 {
		t.Errorf("broker CPU %v ms/req, hub + leaf %v", r.Ping.BrokerCPUms, sum)
	}
}
