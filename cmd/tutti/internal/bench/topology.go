package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tuttifleet/tutti/internal/freeport"
	"github.com/tuttifleet/tutti/internal/procstat"
	"github.com/tuttifleet/tutti/server/emulate"
)

// The topology of a bench: --brokers N brokers in one cluster, the
// client on the first, the emulated nodes spread over the others (or
// over all of them with --nodes-on-client-broker), each broker's share
// carried by as many emulator processes as the open-file limit needs.

// fdReserve is what a process keeps of its open-file limit for
// everything but broker connections: listeners, routes, JetStream and
// log files, the certificate cache being read, the Go runtime.
const fdReserve = 256

// BrokerResult is one broker of the cluster at one fleet size.
type BrokerResult struct {
	Name string `json:"name"`
	// Nodes connected to it, and the emulator processes they run in.
	Nodes     int  `json:"nodes"`
	Emulators int  `json:"emulators"`
	Client    bool `json:"client"`
	// CPU per request of this broker alone (ms).
	PingCPUms float64 `json:"ping_cpu_per_request_ms"`
	RPCCPUms  float64 `json:"rpc_cpu_per_request_ms"`
	// RSS right after the runs, and the process's peak (VmHWM) so far:
	// a broker lives through every fleet size of the bench.
	RSSBytes     int64 `json:"rss_bytes"`
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
}

// Memory is what every process of the bench held at one fleet size.
type Memory struct {
	// Processes counts brokers, emulators and the client.
	Processes int `json:"processes"`
	// RSSBytes is the sum of the processes' RSS right after the runs;
	// PeakRSSBytes the sum of their peaks (VmHWM), an upper bound of
	// what they held at any one moment (the client's and the brokers'
	// peaks may come from an earlier, larger fleet size).
	RSSBytes     int64 `json:"rss_bytes"`
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
}

// shard is one emulator process: count nodes numbered offset+1…, on
// broker broker.
type shard struct{ broker, offset, count int }

// fdLimit is the hard open-file limit (RLIMIT_NOFILE): the Go runtime
// of every child raises its soft limit to it.
func fdLimit() (int, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("read the open-file limit: %w", err)
	}
	return int(min(rl.Max, 1<<30)), nil
}

// plan spreads n nodes over the brokers and, within a broker, over
// emulator processes of at most perProc nodes each.
func plan(n, brokers int, onClient bool, perProc int) []shard {
	first := 1
	if brokers == 1 || onClient {
		first = 0
	}
	targets := brokers - first
	var out []shard
	offset := 0
	for b := range targets {
		share := n / targets
		if b < n%targets {
			share++
		}
		procs := max(1, (share+perProc-1)/perProc)
		for p := range procs {
			c := share / procs
			if p < share%procs {
				c++
			}
			if c > 0 {
				out = append(out, shard{broker: first + b, offset: offset, count: c})
				offset += c
			}
		}
	}
	return out
}

// filesPerNode is how many files an emulated node holds open in its
// emulator process: its broker connection (unless --shared-conn), and
// with --audit stream its spool's head segment, cursor file and the
// segment reader of a backlog. Its audit goes over its one connection,
// as tuttid's does, so a broker holds one connection per node.
func filesPerNode(o *Options) int {
	n := 1
	if o.SharedConn {
		n = 0
	}
	if o.Audit == "stream" {
		n += 3
	}
	return n
}

// planFleet plans fleet size n and checks that every process stays
// within limit open files; the error names the limit and what a run
// needs.
func planFleet(o *Options, n, limit int) ([]shard, error) {
	budget := limit - fdReserve
	perProc := n
	if per := filesPerNode(o); per > 0 {
		perProc = budget / per
	}
	if perProc < 1 {
		return nil, fmt.Errorf("the open-file limit (RLIMIT_NOFILE, hard) is %d: too low for any node", limit)
	}
	shards := plan(n, o.Brokers, o.NodesOnClientBroker, perProc)
	conns := make([]int, o.Brokers)
	conns[0] = 2 // the client and the stream reader
	for _, s := range shards {
		if o.SharedConn {
			conns[s.broker]++
		} else {
			conns[s.broker] += s.count
		}
	}
	for b, c := range conns {
		if c+o.Brokers > budget { // + route connections
			return nil, fmt.Errorf("%d nodes: broker %d would hold %d connections, more than the open-file limit "+
				"(RLIMIT_NOFILE, hard %d, less %d kept for the broker's own files) allows one process; use more --brokers, "+
				"--nodes-on-client-broker, or raise the hard limit to at least %d", n, b+1, c, limit, fdReserve, c+o.Brokers+fdReserve)
		}
	}
	return shards, nil
}

// brokerName is broker i's server name (and log file).
func brokerName(i int) string { return "broker-" + strconv.Itoa(i+1) }

// waitCluster waits until every broker has routes to all the others,
// asking each one's monitoring port (/varz).
func waitCluster(ctx context.Context, monitorPorts []int, timeout time.Duration) error {
	if len(monitorPorts) < 2 {
		return nil
	}
	deadline := time.Now().Add(timeout)
	hc := &http.Client{Timeout: 2 * time.Second}
	for i, port := range monitorPorts {
		for {
			routes, err := varzRoutes(ctx, hc, port)
			if err == nil && routes >= len(monitorPorts)-1 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s has %d routes after %s, want %d (%v)", brokerName(i), routes, timeout, len(monitorPorts)-1, err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

func varzRoutes(ctx context.Context, hc *http.Client, port int) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/varz", port), nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var v struct {
		Routes int `json:"routes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return 0, fmt.Errorf("varz: %w", err)
	}
	return v.Routes, nil
}

// memoryOf reads the RSS and peak RSS of every process of the bench:
// the brokers, the emulators and this one.
func memoryOf(pids []int) (Memory, error) {
	var m Memory
	for _, pid := range pids {
		rss, peak, err := procstat.RSSAndPeak(pid)
		if err != nil {
			return m, err
		}
		m.Processes++
		m.RSSBytes += rss
		m.PeakRSSBytes += peak
	}
	return m, nil
}

// numbered names the i-th of several files: base, base-2, base-3…
func numbered(base string, i int) string {
	if i == 0 {
		return base
	}
	return base + "-" + strconv.Itoa(i+1)
}

// freePorts returns n distinct free loopback ports.
func freePorts(n int) ([]int, error) {
	seen := map[int]bool{}
	var out []int
	for tries := 0; len(out) < n; tries++ {
		if tries > 10*n {
			return nil, fmt.Errorf("found only %d of %d free ports", len(out), n)
		}
		p, err := freeport.Get()
		if err != nil {
			return nil, err
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out, nil
}

// sharedNodes is the broker's shared_node_certificates for
// --shared-conn: the first node of every emulator the bench will start
// (each carries its nodes on that node's connection and certificate).
func sharedNodes(o *Options) string {
	firsts := map[int]bool{1: true}
	limit, err := fdLimit()
	if err == nil {
		for _, n := range o.Nodes {
			shards, err := planFleet(o, n, limit)
			if err != nil {
				continue
			}
			for _, s := range shards {
				firsts[s.offset+1] = true
			}
		}
	}
	idx := slices.Sorted(maps.Keys(firsts))
	alts := make([]string, len(idx))
	for i, v := range idx {
		alts[i] = strconv.Itoa(v)
	}
	return "^" + emulate.DefaultPrefix + "-0*(" + strings.Join(alts, "|") + ")$"
}

// startBrokers starts the brokers and waits for their cluster to form.
// The workers it returns are to be stopped even when it fails.
func startBrokers(ctx context.Context, env *benchEnv) ([]*worker, error) {
	var ws []*worker
	for i, conf := range env.brokerConfs {
		args := []string{"--config", conf}
		if env.profile != "" {
			args = append(args, "--"+ProfileFlag, filepath.Join(env.profile, numbered("broker", i)))
		}
		w, err := startWorker(ctx, env.dir, numbered("broker", i), "broker", args...)
		if err != nil {
			return ws, err
		}
		ws = append(ws, w)
	}
	if err := waitCluster(ctx, env.monitors, time.Minute); err != nil {
		return ws, fmt.Errorf("broker cluster: %w; see %s", err, ws[0].logPath)
	}
	return ws, nil
}

func workerPIDs(ws []*worker) []int {
	out := make([]int, len(ws))
	for i, w := range ws {
		out[i] = w.pid()
	}
	return out
}

// brokerResults reads each broker's memory and puts its CPU (cpu[0]
// over the pings, cpu[1] over the rpc requests) per request. With leaf
// the brokers are the hub (the client's) and the leaf, which carries
// every node.
func brokerResults(brokers []*worker, shards []shard, cpu [2][]time.Duration, runs int, leaf bool) ([]BrokerResult, error) {
	out := make([]BrokerResult, len(brokers))
	for i, w := range brokers {
		b := &out[i]
		b.Name, b.Client = brokerName(i), i == 0
		if leaf {
			b.Name = [...]string{"hub", "leaf"}[min(i, 1)]
		}
		b.PingCPUms, b.RPCCPUms = ms(cpu[0][i])/float64(runs), ms(cpu[1][i])/float64(runs)
		var err error
		if b.RSSBytes, b.PeakRSSBytes, err = procstat.RSSAndPeak(w.pid()); err != nil {
			return nil, err
		}
	}
	for _, s := range shards {
		at := s.broker
		if leaf {
			at = len(out) - 1
		}
		out[at].Nodes += s.count
		out[at].Emulators++
	}
	return out, nil
}

// addSpool adds the spool counters of one emulator to a sum.
func addSpool(sum, s *emulate.AuditSpool) *emulate.AuditSpool {
	if sum == nil {
		sum = &emulate.AuditSpool{}
	}
	sum.Spooled += s.Spooled
	sum.Delivered += s.Delivered
	sum.PendingBytes += s.PendingBytes
	sum.Refused += s.Refused
	sum.WriteErrors += s.WriteErrors
	sum.PublishErrors += s.PublishErrors
	return sum
}

func topologyName(r *Report) string {
	switch {
	case r.Leaf:
		return "hub + leaf (the client on the hub, the nodes on a leafnode broker)"
	case r.Brokers <= 1:
		return "one broker"
	case r.NodesOnClientBroker:
		return fmt.Sprintf("%d brokers (nodes on all, the client on broker-1)", r.Brokers)
	default:
		return fmt.Sprintf("%d brokers (the client alone on broker-1)", r.Brokers)
	}
}

// printTopology prints, per fleet size, each broker's share, CPU and
// memory, and the memory of every process together.
func printTopology(w io.Writer, r *Report) {
	const mib = 1 << 20
	fmt.Fprintln(w)
	for _, x := range r.Results {
		fmt.Fprintf(w, "%7d slowest reply %.3fs; %d processes (%d emulators): RSS %.0f MiB after the runs, peaks together ≤ %.0f MiB\n",
			x.Nodes, max(x.Ping.Max, x.RPC.Max), x.Memory.Processes, x.Emulators, float64(x.Memory.RSSBytes)/mib, float64(x.Memory.PeakRSSBytes)/mib)
		for _, b := range x.Brokers {
			who := ""
			if b.Client {
				who = " + client"
			}
			fmt.Fprintf(w, "%7s %-9s %6d nodes%-9s CPU/req %7.1f | %7.1f ms  RSS %6.0f MiB (peak %.0f)\n", "", b.Name, b.Nodes, who,
				b.PingCPUms, b.RPCCPUms, float64(b.RSSBytes)/mib, float64(b.PeakRSSBytes)/mib)
		}
	}
}

// startEmulators starts one emulator per shard and waits until each
// reports its fleet running.
func startEmulators(ctx context.Context, o *Options, env *benchEnv, shards []shard) ([]*worker, []emulate.Report, error) {
	var emus []*worker
	total := 0
	for _, sh := range shards {
		total += sh.count
	}
	for i, sh := range shards {
		args := []string{"--config", env.serverConfs[sh.broker], "--pki", env.pki, "--count", strconv.Itoa(sh.count),
			"--offset", strconv.Itoa(sh.offset), "--key", string(env.keyType), "--audit", env.audit}
		if o.SharedConn {
			args = append(args, "--shared-conn")
		}
		if o.EmulatorGOGC > 0 {
			args = append(args, "--"+GOGCFlag, strconv.Itoa(o.EmulatorGOGC))
		}
		if o.Profile != "" {
			args = append(args, "--"+ProfileFlag, filepath.Join(o.Profile, fmt.Sprintf("%s.n%d", numbered("emulate", i), total)))
		}
		emu, err := startWorker(ctx, env.dir, numbered("emulate", i), "emulate", args...)
		if err != nil {
			return emus, nil, err
		}
		emus = append(emus, emu)
	}
	reports := make([]emulate.Report, len(emus))
	for i, emu := range emus { // they start together
		if err := emu.readReport(ctx, 10*time.Minute, &reports[i]); err != nil {
			return emus, nil, err
		}
	}
	return emus, reports, nil
}

// settleEmulators asks every emulator for its settled memory (SIGUSR1).
func settleEmulators(ctx context.Context, emus []*worker, reports []emulate.Report, r *Result) error {
	for _, emu := range emus {
		if err := emu.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
			return err
		}
	}
	for i, emu := range emus {
		var m emulate.Memory
		if err := emu.readReport(ctx, time.Minute, &m); err != nil {
			return fmt.Errorf("settled memory: %w", err)
		}
		r.RSSSettledPerNode += m.RSSPerNode * float64(reports[i].Count) / float64(r.Nodes)
		if r.AuditStream != nil && m.AuditSpool != nil {
			r.AuditStream.Spool = addSpool(r.AuditStream.Spool, m.AuditSpool) // after delivery
		}
	}
	return nil
}
