package cli

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// init lets tutti bench run this test binary as its broker and
// emulator children, as the real binary runs itself. It is an init, not
// part of TestMain, so a child never reaches the tests' setup.
func init() {
	if os.Getenv(benchWorkerEnv) == "1" {
		os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
}

func TestBenchSmallFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := t.TempDir()
	out, plot := filepath.Join(dir, "bench.json"), filepath.Join(dir, "bench.svg")
	code, stdout, stderr := runCLI(t, "bench", "--nodes", "3,5", "--runs", "2", "--workdir", filepath.Join(dir, "work"),
		"--out", out, "--plot", plot, "--audit", "discard")
	if code != ExitOK {
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
	var rep BenchReport
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
		for name, s := range map[string]BenchSeries{"ping": r.Ping, "rpc": r.RPC} {
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
	if again, _ := os.ReadFile(plot2); code != ExitOK || !strings.Contains(stdout, "\n      5 ") || string(again) != string(svg) {
		t.Errorf("--from: exit %d, same plot %v\n%s", code, string(again) == string(svg), stdout)
	}
	// The second run reuses the workdir: node certificates come from the cache.
	code, stdout, stderr = runCLI(t, "bench", "--nodes", "5", "--runs", "1", "--workdir", filepath.Join(dir, "work"), "--out", out)
	if code != ExitOK {
		t.Fatalf("rerun: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

func TestBenchRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--nodes", "0"}, {"--runs", "0"}, {"--key", "rsa"}, {"--audit", "syslog"},
	} {
		if code, _, _ := runCLI(t, append([]string{"bench"}, args...)...); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, ExitUsage)
		}
	}
}

func TestNiceCeil(t *testing.T) {
	for in, want := range map[float64]float64{0: 1, 0.0004: 0.001, 0.27: 0.3, 1.2: 1.5, 2: 2, 3.1: 4, 5.4: 6, 7: 8, 12: 15, 90: 100} {
		if got := niceCeil(in); got != want {
			t.Errorf("niceCeil(%v) = %v, want %v", in, got, want)
		}
	}
}
