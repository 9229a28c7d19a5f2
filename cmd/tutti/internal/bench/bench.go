// Package bench is the harness of `tutti bench`: it starts the embedded
// broker and an emulated fleet as child processes, measures requests
// with full security, reads CPU and memory per process from /proc and
// reports the figures as text, JSON and an SVG plot (docs/benchmark.md).
package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/client"
	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/dial"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/internal/procstat"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server/emulate"
)

// WorkerEnv marks the broker and emulator processes Run starts (tests
// re-execute their own binary with it), and WorkerVerb is the verb they
// run: `tutti bench-worker broker|emulate` runs them in the real binary.
const (
	WorkerEnv  = "TUTTI_BENCH_WORKER"
	WorkerVerb = "bench-worker"
)

// Options are the flags of `tutti bench`.
type Options struct {
	Nodes      []int
	Runs       int
	Key        string
	Out, Plot  string
	Workdir    string
	Audit      string
	Timeout    time.Duration
	SharedConn bool
	From       string
	// Leaf puts the nodes behind a leafnode broker linked to the
	// client's broker (leaf.go).
	Leaf bool
	// Brokers is the size of the broker cluster (1: one broker).
	Brokers int
	// NodesOnClientBroker puts nodes on the client's broker too; by
	// default a cluster's first broker carries only the client.
	NodesOnClientBroker bool
	// Profile, when set, is a directory where every process writes a
	// CPU profile of the measured runs of each fleet size.
	Profile string
	// NodeSet are "key = value" lines added to the emulated nodes'
	// configuration (measuring a node setting, such as
	// plugin.tutti.audit.stream_linger); a key set twice takes the last.
	NodeSet []string
	// EmulatorGOGC, when above 0, is the emulators' garbage collection
	// target (GOGC percent; Go's default is 100): lower holds less of
	// the bursts' garbage for more collector CPU in the nodes' figures.
	EmulatorGOGC int
}

// Report is what `tutti bench --out` writes.
type Report struct {
	Date    string  `json:"date"`
	Machine Machine `json:"machine"`
	Key     string  `json:"key_type"`
	Audit   string  `json:"audit"`
	Runs    int     `json:"runs"`
	// Brokers is the cluster's size; NodesOnClientBroker whether nodes
	// shared the client's broker.
	Brokers             int  `json:"brokers"`
	Leaf                bool `json:"leaf,omitempty"`
	NodesOnClientBroker bool `json:"nodes_on_client_broker,omitempty"`
	// EmulatorGOGC is --emulator-gogc (0: Go's default, 100).
	EmulatorGOGC int      `json:"emulator_gogc,omitempty"`
	Results      []Result `json:"results"`
}

// Machine describes where the figures were taken.
type Machine struct {
	CPUs      int     `json:"cpus"`
	Model     string  `json:"cpu_model"`
	MemGiB    float64 `json:"mem_gib"`
	GoVersion string  `json:"go_version"`
	OS        string  `json:"os"`
}

// Result is one fleet size.
type Result struct {
	Nodes        int     `json:"nodes"`
	StartSeconds float64 `json:"start_seconds"`
	CertsSeconds float64 `json:"certs_seconds"`
	SharedConn   bool    `json:"shared_conn"`
	// WarmupSeconds is the first ping, when every node still verifies
	// the client's certificate chain (later requests hit its cache), and
	// SecondWarmupSeconds the second, when every node with an ECDSA key
	// builds the comb table for the client's key (security/p256). The
	// measured runs then see nodes in their steady state: nodes that
	// have served this caller before.
	WarmupSeconds       float64 `json:"warmup_seconds"`
	SecondWarmupSeconds float64 `json:"second_warmup_seconds"`
	Ping                Series  `json:"ping"`
	RPC                 Series  `json:"rpc"`
	// RSS per node: after startup (idle, garbage returned to the OS),
	// right after the last request (with the garbage and goroutine
	// stacks of the bursts), and settled again after that.
	RSSIdlePerNode    float64 `json:"rss_idle_per_node_bytes"`
	RSSAfterPerNode   float64 `json:"rss_after_per_node_bytes"`
	RSSSettledPerNode float64 `json:"rss_settled_per_node_bytes"`
	// AuditStream is the delivery check of --audit stream.
	AuditStream *StreamCheck `json:"audit_stream,omitempty"`
	// Emulators is how many emulator processes carried the fleet.
	Emulators int `json:"emulators"`
	// Brokers are the cluster's brokers, the client's first; with
	// --leaf the hub (the client's) and the leaf (the nodes').
	Brokers []BrokerResult `json:"brokers"`
	// Memory is every process's RSS after the runs, summed.
	Memory Memory `json:"memory"`
}

// Series is one kind of request repeated Runs times.
type Series struct {
	// Seconds is the time from publishing to the last reply, per run.
	Seconds []float64 `json:"seconds"`
	Min     float64   `json:"min_seconds"`
	Median  float64   `json:"median_seconds"`
	Max     float64   `json:"max_seconds"`
	// Replies were verified; Failed did not verify; Missing never came.
	Replies int `json:"replies"`
	Failed  int `json:"failed"`
	Missing int `json:"missing"`
	// CPU per request: on each node (ms), on the client per reply (µs),
	// on the broker for the whole fan-out and fan-in (ms).
	NodeCPUms   float64 `json:"node_cpu_per_request_ms"`
	ClientCPUus float64 `json:"client_cpu_per_reply_us"`
	// BrokerCPUms is every broker's CPU together.
	BrokerCPUms    float64 `json:"broker_cpu_per_request_ms"`
	NodeCPUSeconds float64 `json:"node_cpu_seconds_total"`
	// CPUBoundSeconds is the CPU of nodes, client and broker for one
	// request divided by the CPUs: the shortest time to all replies this
	// machine allows with that much work, were it perfectly parallel and
	// otherwise idle.
	CPUBoundSeconds float64 `json:"cpu_bound_seconds"`
}

// Validate checks the options before anything starts; with From set
// nothing is measured and only From matters.
func (o *Options) Validate() error {
	if o.From != "" {
		return nil
	}
	if o.Runs < 1 || len(o.Nodes) == 0 || slices.ContainsFunc(o.Nodes, func(n int) bool { return n < 1 }) {
		return errors.New("--runs and every --nodes value must be at least 1")
	}
	if o.EmulatorGOGC < 0 {
		return fmt.Errorf("--emulator-gogc %d: want a percentage above 0, or 0 for Go's default", o.EmulatorGOGC)
	}
	if o.Brokers < 1 || o.Brokers > 64 {
		return fmt.Errorf("--brokers %d: want 1 to 64", o.Brokers)
	}
	if o.Audit != "file" && o.Audit != emulate.AuditStream && o.Audit != emulate.AuditDiscard {
		return fmt.Errorf("--audit %q: want file, stream or discard", o.Audit)
	}
	if kt, err := x509.ParseKeyType(o.Key); err != nil || kt == x509.KeyRSA {
		return fmt.Errorf("--key %q: want ecdsa or ed25519", o.Key)
	}
	for _, kv := range o.NodeSet {
		if k, _, ok := strings.Cut(kv, "="); !ok || strings.TrimSpace(k) == "" || strings.ContainsAny(kv, "\r\n") {
			return fmt.Errorf("--node-set %q: want key=value on one line", kv)
		}
	}
	return nil
}

// Run measures the fleet sizes of o (or replays o.From), prints the
// table on stdout and progress on stderr, and writes the --out and
// --plot files. It fails when o does not validate, when a fleet does not
// come up, or when some reply failed verification or never came.
func Run(ctx context.Context, o *Options, stdout, stderr io.Writer) error {
	if err := o.Validate(); err != nil {
		return err
	}
	if o.From != "" {
		return replay(stdout, o)
	}
	kt, err := x509.ParseKeyType(o.Key)
	if err != nil {
		return err
	}
	dir := o.Workdir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "tutti-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	limit, err := fdLimit()
	if err != nil {
		return err
	}
	for _, n := range o.Nodes { // before anything starts
		if _, err := planFleet(o, n, limit); err != nil {
			return err
		}
	}
	if o.Leaf && o.Brokers > 1 {
		return errors.New("--leaf puts the nodes behind one leafnode broker linked to the client's: it takes one broker, not --brokers")
	}
	env, err := setup(dir, kt, o)
	if err != nil {
		return err
	}
	if o.Leaf {
		if env.leaf, err = setupLeaf(env); err != nil {
			return err
		}
	}
	brokers, err := startBrokers(ctx, env)
	for _, b := range brokers {
		defer b.stop()
	}
	if err != nil {
		return err
	}
	broker := brokers[0]
	if env.leaf != nil {
		leaf, err := startLeaf(ctx, env.leaf, env.profile)
		if err != nil {
			return fmt.Errorf("%w; hub log %s: %s", err, broker.logPath, tail(broker.logPath))
		}
		defer leaf.stop()
		// measured as a broker of its own, after the hub: it holds the
		// node connections
		brokers = append(slices.Clone(brokers), leaf)
	}
	cl, conn, err := newClient(ctx, env.clientConf)
	if err != nil {
		return fmt.Errorf("%w; broker log %s: %s", err, broker.logPath, tail(broker.logPath))
	}
	defer conn.Close()
	if o.Audit == emulate.AuditStream {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		env.stream, err = openStreamReader(sctx, env.clientConf)
		cancel()
		if err != nil {
			return fmt.Errorf("%w; broker log %s: %s", err, broker.logPath, tail(broker.logPath))
		}
		defer env.stream.close()
	}
	rep := &Report{Date: time.Now().UTC().Format(time.RFC3339), Machine: machine(), Key: string(kt), Audit: o.Audit, Runs: o.Runs,
		Brokers: o.Brokers, NodesOnClientBroker: o.NodesOnClientBroker && o.Brokers > 1, Leaf: o.Leaf, EmulatorGOGC: o.EmulatorGOGC}
	for _, n := range o.Nodes {
		shards, err := planFleet(o, n, limit)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "bench: %d nodes (%d brokers, %d emulators)…\n", n, o.Brokers, len(shards))
		r, err := benchSize(ctx, o, env, brokers, cl, n, shards)
		if err != nil {
			return fmt.Errorf("%d nodes: %w", n, err)
		}
		rep.Results = append(rep.Results, *r)
	}
	if err := report(stdout, o, rep); err != nil {
		return err
	}
	for _, r := range rep.Results {
		if r.Ping.Failed+r.Ping.Missing+r.RPC.Failed+r.RPC.Missing > 0 {
			return fmt.Errorf("%d nodes: some replies failed verification or never came", r.Nodes)
		}
		if c := r.AuditStream; c != nil && (c.Missing > 0 || c.Extra > 0 || c.Records == 0) {
			return fmt.Errorf("%d nodes: the audit stream does not hold the audit file's records: %d records, %d stored, %d missing, %d extra",
				r.Nodes, c.Records, c.Stored, c.Missing, c.Extra)
		}
	}
	return nil
}

// replay prints and plots an earlier --out file.
func replay(stdout io.Writer, o *Options) error {
	b, err := os.ReadFile(o.From)
	if err != nil {
		return err
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("%s: %w", o.From, err)
	}
	if len(rep.Results) == 0 {
		return fmt.Errorf("%s holds no results", o.From)
	}
	return report(stdout, o, &rep)
}

// report prints rep and writes the --out and --plot files.
func report(stdout io.Writer, o *Options, rep *Report) error {
	printBench(stdout, rep)
	if o.Out != "" && o.Out != o.From {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.Out, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if o.Plot != "" {
		return writePlot(o.Plot, rep)
	}
	return nil
}

// benchEnv is the bench's working directory.
type benchEnv struct {
	dir, pki    string
	brokerConfs []string // one per broker
	serverConfs []string // one per broker: its nodes' configuration
	clientConf  string
	monitors    []int  // the brokers' monitoring ports (clusters)
	profile     string // --profile
	audit       string // emulator --audit value
	auditFile   string // the nodes' audit log (file, stream)
	keyType     x509.KeyType
	stream      *streamReader // --audit stream
	leaf        *leafEnv      // --leaf
}

// setup creates (or reuses) the PKI and writes the configuration
// of the brokers, the nodes and the client.
func setup(dir string, kt x509.KeyType, o *Options) (*benchEnv, error) {
	audit := o.Audit
	if o.Profile != "" {
		if err := os.MkdirAll(o.Profile, 0o755); err != nil {
			return nil, err
		}
	}
	e := &benchEnv{dir: dir, pki: filepath.Join(dir, "pki-"+string(kt)), keyType: kt, profile: o.Profile}
	ca, err := x509.LoadCADir(e.pki)
	if err != nil {
		if ca, err = x509.InitDir(e.pki, kt); err != nil {
			return nil, err
		}
	}
	for _, c := range []struct {
		name string
		sans []string
	}{{"broker.bench", []string{"localhost", "127.0.0.1"}}, {"bench.mcollective", nil}} {
		if _, err := os.Stat(filepath.Join(e.pki, c.name+".key")); err == nil {
			continue
		}
		is, err := ca.Issue(c.name, x509.IssueOptions{KeyType: kt, SANs: c.sans})
		if err != nil {
			return nil, err
		}
		if _, _, err := is.WriteFiles(e.pki); err != nil {
			return nil, err
		}
	}
	ports, err := freePorts(3 * o.Brokers) // client, cluster and monitoring port of each broker
	if err != nil {
		return nil, err
	}
	sec := func(name string) string {
		s := "plugin.security.provider = file\nplugin.security.file.ca = " + filepath.Join(e.pki, "ca.pem") + "\n"
		if name != "" {
			s += fmt.Sprintf("plugin.security.file.certificate = %[1]s.pem\nplugin.security.file.key = %[1]s.key\n", filepath.Join(e.pki, name))
		}
		return s
	}
	hosts := func(b int) string {
		return fmt.Sprintf("plugin.choria.middleware_hosts = nats://127.0.0.1:%d\n", ports[3*b])
	}
	policies := filepath.Join(dir, "policies")
	e.audit, e.auditFile = audit, filepath.Join(dir, "audit.log")
	if audit == "file" {
		e.audit = e.auditFile
	}
	// a fresh log, spools and stream per bench: a kept workdir would grow
	// by ~200 MB a run, and the stream check counts from zero
	if err := os.Remove(e.auditFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	stale, _ := filepath.Glob(filepath.Join(dir, "jetstream*"))
	for _, d := range append(stale, e.auditFile+".spool") {
		if err := os.RemoveAll(d); err != nil {
			return nil, err
		}
	}
	e.clientConf = filepath.Join(dir, "client.conf")
	files := []struct{ path, body string }{
		{filepath.Join(policies, "rpcutil.policy"), "policy default deny\nallow\tchoria=bench.mcollective\t*\t*\t*\n"},
		{e.clientConf, "identity = bench.mcollective\n" + sec("bench.mcollective") + hosts(0) + "plugin.tutti.require_signed_replies = 1\n"},
	}
	for b := range o.Brokers {
		conf := "identity = " + brokerName(b) + "\nlogfile = stderr\nloglevel = warn\n" + sec("broker.bench") +
			fmt.Sprintf("plugin.choria.network.listen_address = 127.0.0.1\nplugin.choria.network.client_port = %d\n", ports[3*b]) +
			// --shared-conn: each emulator carries its nodes on its first
			// node's connection and certificate.
			"plugin.tutti.broker.shared_node_certificates = " + sharedNodes(o) + "\n" +
			"plugin.tutti.broker.audit_readers = ^bench\\.mcollective$\n"
		// JetStream, and with it the audit stream the broker creates,
		// whatever --audit is, so the broker is the same; the client
		// reads the stream to check --audit stream's delivery. In a
		// cluster each broker has its own store and the stream three
		// replicas (as many as there are brokers, if fewer).
		conf += "plugin.choria.network.stream.store = " + filepath.Join(dir, numbered("jetstream", b)) + "\n"
		if o.Brokers > 1 {
			conf += fmt.Sprintf("plugin.tutti.broker.audit_stream.replicas = %d\n", min(o.Brokers, 3))
		}
		if o.Brokers > 1 {
			var peers []string
			for p := range o.Brokers {
				peers = append(peers, fmt.Sprintf("nats://127.0.0.1:%d", ports[3*p+1]))
			}
			conf += fmt.Sprintf("plugin.choria.network.peer_port = %d\nplugin.choria.network.peers = %s\n"+
				"plugin.choria.network.monitor_port = %d\n", ports[3*b+1], strings.Join(peers, ","), ports[3*b+2]) +
				"plugin.tutti.broker.link_certificates = ^broker\\.bench$\n" // the routes: the brokers' certificate only
			e.monitors = append(e.monitors, ports[3*b+2])
		}
		e.brokerConfs = append(e.brokerConfs, filepath.Join(dir, numbered("broker", b)+".conf"))
		e.serverConfs = append(e.serverConfs, filepath.Join(dir, numbered("server", b)+".conf"))
		files = append(files, struct{ path, body string }{e.brokerConfs[b], conf},
			struct{ path, body string }{e.serverConfs[b], "identity = emu\ncollectives = mcollective\nlogfile = stderr\n" + sec("") + hosts(b) +
				"rpcauthorization = 1\nrpcauthprovider = action_policy\nplugin.tutti.policy_dir = " + policies + "\n" +
				"rpcaudit = 1\nplugin.rpcaudit.logfile = " + e.auditFile + "\n" + nodeSet(o.NodeSet)})
	}
	for _, f := range files {
		if err := writeFile(f.path, f.body, 0o644); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// nodeSet is --node-set as configuration lines.
func nodeSet(kvs []string) string {
	var b strings.Builder
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&b, "%s = %s\n", strings.TrimSpace(k), strings.TrimSpace(v))
	}
	return b.String()
}

// newClient connects the measuring client, as `tutti` would from
// client.conf, requiring a verified signature on every reply.
func newClient(ctx context.Context, conf string) (*client.Client, connector.Connector, error) {
	cfg, _, err := config.LoadClient(conf)
	if err != nil {
		return nil, nil, err
	}
	p, err := x509.New(x509.ConfigFrom(cfg.Security))
	if err != nil {
		return nil, nil, err
	}
	l := logrus.New()
	l.SetOutput(io.Discard)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second) // the broker child is starting
	defer cancel()
	conn, err := dial.Open(cctx, dial.ConfigFrom(&cfg.Common), p, logrus.NewEntry(l))
	if err != nil {
		return nil, nil, fmt.Errorf("connect to the bench broker: %w", err)
	}
	cl, err := client.New(client.Options{Connector: conn, Signer: &client.LocalSigner{Signer: p, Caller: "choria=" + p.Name()},
		Verifier: p, Identity: cfg.Identity, Log: logrus.NewEntry(l)})
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return cl, conn, nil
}

// benchSize starts an emulated fleet of n nodes in the emulators of
// shards and measures it.
func benchSize(ctx context.Context, o *Options, env *benchEnv, brokers []*worker, cl *client.Client, n int, shards []shard) (*Result, error) {
	emus, reports, err := startEmulators(ctx, o, env, shards)
	for _, e := range emus {
		defer e.stop()
	}
	if err != nil {
		return nil, err
	}
	r := &Result{Nodes: n, SharedConn: o.SharedConn, Emulators: len(emus)}
	var rssBefore int64
	for _, er := range reports {
		r.StartSeconds, r.CertsSeconds = max(r.StartSeconds, er.StartSeconds), max(r.CertsSeconds, er.CertsSeconds)
		r.RSSIdlePerNode += er.RSSPerNode * float64(er.Count) / float64(n)
		rssBefore += er.RSSBefore
	}
	// a request lives as long as the bench waits for it (at least the
	// client's default 60 s), so a node that is slow to get to it under
	// load still answers instead of refusing it as expired
	ttl := max(o.Timeout, time.Minute)
	ping := client.Request{Discovery: true, Filter: protocol.NewFilter(""), Expect: n, Timeout: o.Timeout, TTL: ttl}
	rpc := client.Request{Agent: "rpcutil", Action: "ping", Filter: protocol.NewFilter("rpcutil"), Expect: n, Timeout: o.Timeout, TTL: ttl}
	for _, into := range []*float64{&r.WarmupSeconds, &r.SecondWarmupSeconds} {
		warm, err := cl.Do(ctx, ping, nil)
		if err != nil {
			return nil, err
		}
		if warm.Replies-warm.Failed < n {
			return nil, fmt.Errorf("warm-up ping: %d of %d nodes replied (%d failed verification) in %s; see %s",
				warm.Replies-warm.Failed, n, warm.Failed, o.Timeout, emus[0].logPath)
		}
		*into = warm.Elapsed.Seconds()
	}
	p := pids{nodes: workerPIDs(emus), brokers: workerPIDs(brokers)}
	prof, all := &profiler{dir: o.Profile, since: time.Now()}, append(slices.Clone(brokers), emus...)
	if err := prof.start(n, all); err != nil {
		return nil, err
	}
	var brokerCPU [2][]time.Duration
	for i, s := range []struct {
		req    client.Request
		series *Series
	}{{ping, &r.Ping}, {rpc, &r.RPC}} {
		if brokerCPU[i], err = measure(ctx, cl, s.req, o.Runs, n, p, s.series); err != nil {
			return nil, err
		}
	}
	if err := prof.stop(all); err != nil {
		return nil, err
	}
	var rssAfter int64
	for _, pid := range p.nodes {
		rss, err := procstat.RSS(pid)
		if err != nil {
			return nil, err
		}
		rssAfter += rss
	}
	r.RSSAfterPerNode = float64(rssAfter-rssBefore) / float64(n)
	if r.Memory, err = memoryOf(append(append(slices.Clone(p.brokers), p.nodes...), os.Getpid())); err != nil {
		return nil, err
	}
	if r.Brokers, err = brokerResults(brokers, shards, brokerCPU, o.Runs, env.leaf != nil); err != nil {
		return nil, err
	}
	if env.stream != nil {
		if r.AuditStream, err = env.stream.check(ctx, env.auditFile); err != nil {
			return nil, err
		}
	}
	if err := settleEmulators(ctx, emus, reports, r); err != nil {
		return r, err
	}
	return r, prof.written(ctx)
}

// settle is how long measure waits after the last reply before reading
// CPU times, so the nodes' last goroutines finish.
const settle = 150 * time.Millisecond

// pids are the processes measured: the emulators and the brokers (the
// client is this process).
type pids struct{ nodes, brokers []int }

// measure sends req runs times and fills s; it returns each broker's
// CPU over the runs.
func measure(ctx context.Context, cl *client.Client, req client.Request, runs, n int, p pids, s *Series) ([]time.Duration, error) {
	var nodeCPU, clientCPU time.Duration
	brokerCPU := make([]time.Duration, len(p.brokers))
	for range runs {
		time.Sleep(settle)
		t0, err := cpuTimes(p)
		if err != nil {
			return nil, err
		}
		sum, err := cl.Do(ctx, req, nil)
		if err != nil {
			return nil, err
		}
		time.Sleep(settle)
		t1, err := cpuTimes(p)
		if err != nil {
			return nil, err
		}
		nodeCPU, clientCPU = nodeCPU+t1.nodes-t0.nodes, clientCPU+t1.self-t0.self
		for i := range brokerCPU {
			brokerCPU[i] += t1.brokers[i] - t0.brokers[i]
		}
		ok := sum.Replies - sum.Failed
		s.Replies += ok
		s.Failed += sum.Failed
		s.Missing += max(0, n-ok)
		s.Seconds = append(s.Seconds, sum.Elapsed.Seconds())
	}
	var allBrokers time.Duration
	for _, c := range brokerCPU {
		allBrokers += c
	}
	sorted := slices.Sorted(slices.Values(s.Seconds))
	s.Min, s.Max, s.Median = sorted[0], sorted[len(sorted)-1], median(sorted)
	s.NodeCPUSeconds = nodeCPU.Seconds()
	s.NodeCPUms = ms(nodeCPU) / float64(runs*n)
	s.BrokerCPUms = ms(allBrokers) / float64(runs)
	s.CPUBoundSeconds = (nodeCPU + allBrokers + clientCPU).Seconds() / float64(runs) / float64(runtime.NumCPU())
	if s.Replies > 0 {
		s.ClientCPUus = float64(clientCPU.Microseconds()) / float64(s.Replies)
	}
	return brokerCPU, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(sorted []float64) float64 {
	m := len(sorted) / 2
	if len(sorted)%2 == 1 {
		return sorted[m]
	}
	return (sorted[m-1] + sorted[m]) / 2
}

// cpuTimes reads the CPU used so far by the emulators, each broker and
// this process (the client).
func cpuTimes(p pids) (t struct {
	nodes, self time.Duration
	brokers     []time.Duration
}, err error) {
	for _, pid := range p.nodes {
		c, err := procstat.CPU(pid)
		if err != nil {
			return t, err
		}
		t.nodes += c
	}
	for _, pid := range p.brokers {
		c, err := procstat.CPU(pid)
		if err != nil {
			return t, err
		}
		t.brokers = append(t.brokers, c)
	}
	var ru syscall.Rusage
	if err = syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return t, err
	}
	t.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return t, nil
}

// worker is a child process running `tutti bench-worker …`.
type worker struct {
	cmd     *exec.Cmd
	out     *bufio.Reader
	logPath string
	done    chan struct{}
	waitErr error
}

func (w *worker) pid() int { return w.cmd.Process.Pid }

// startWorker runs this executable as `bench-worker kind args…`, its
// stderr going to <dir>/<name>.log.
func startWorker(ctx context.Context, dir, name, kind string, args ...string) (*worker, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, append([]string{WorkerVerb, kind}, args...)...)
	cmd.Env = append(os.Environ(), WorkerEnv+"=1")
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM} // never outlive the bench
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", kind, err)
	}
	w := &worker{cmd: cmd, out: bufio.NewReader(stdout), logPath: logPath, done: make(chan struct{})}
	go func() {
		w.waitErr = cmd.Wait()
		logf.Close()
		close(w.done)
	}()
	go func() {
		select {
		case <-ctx.Done():
			w.stop()
		case <-w.done:
		}
	}()
	return w, nil
}

// readReport reads the worker's first stdout line as JSON into v.
func (w *worker) readReport(ctx context.Context, timeout time.Duration, v any) error {
	type line struct {
		b   []byte
		err error
	}
	ch := make(chan line, 1)
	go func() {
		b, err := w.out.ReadBytes('\n')
		ch <- line{b, err}
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case l := <-ch:
		if l.err != nil {
			<-w.done
			return fmt.Errorf("%s exited before it was ready (%v); see %s: %s", w.cmd.Args[2], w.waitErr, w.logPath, tail(w.logPath))
		}
		return json.Unmarshal(l.b, v)
	case <-t.C:
		return fmt.Errorf("%s not ready after %s; see %s", w.cmd.Args[2], timeout, w.logPath)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stop sends SIGTERM and waits for the worker to exit (SIGKILL after
// 30 s).
func (w *worker) stop() {
	select {
	case <-w.done:
		return
	default:
	}
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.done:
	case <-time.After(30 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.done
	}
}

// tail is the end of a log file, for error messages.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 600 {
		b = b[len(b)-600:]
	}
	return strings.TrimSpace(string(b))
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.Model = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %f kB", &kb); err == nil {
			m.MemGiB = float64(int(kb/(1<<20)*10+0.5)) / 10
		}
	}
	return m
}

func printBench(w io.Writer, r *Report) {
	gc := ""
	if r.EmulatorGOGC > 0 {
		gc = fmt.Sprintf(", emulators GOGC=%d", r.EmulatorGOGC)
	}
	fmt.Fprintf(w, "tutti bench: %d runs per size, %s keys, audit %s, %s%s, %d CPUs (%s), %s\n\n", r.Runs, r.Key, r.Audit,
		topologyName(r), gc, r.Machine.CPUs, r.Machine.Model, r.Machine.GoVersion)
	fmt.Fprintf(w, "%7s %7s %22s %22s %14s %16s %14s %14s %22s\n", "nodes", "start", "ping min/med/max s", "rpc min/med/max s",
		"CPU bound s", "node CPU/req ms", "client µs/rep", "broker ms/req", "RSS/node MiB")
	for _, x := range r.Results {
		fmt.Fprintf(w, "%7d %6.1fs %22s %22s %14s %16s %14s %14s %22s\n", x.Nodes, x.StartSeconds,
			fmt.Sprintf("%.3f/%.3f/%.3f", x.Ping.Min, x.Ping.Median, x.Ping.Max),
			fmt.Sprintf("%.3f/%.3f/%.3f", x.RPC.Min, x.RPC.Median, x.RPC.Max),
			fmt.Sprintf("%.3f | %.3f", x.Ping.CPUBoundSeconds, x.RPC.CPUBoundSeconds),
			fmt.Sprintf("%.3f | %.3f", x.Ping.NodeCPUms, x.RPC.NodeCPUms),
			fmt.Sprintf("%.0f | %.0f", x.Ping.ClientCPUus, x.RPC.ClientCPUus),
			fmt.Sprintf("%.0f | %.0f", x.Ping.BrokerCPUms, x.RPC.BrokerCPUms),
			fmt.Sprintf("%.3f | %.3f | %.3f", x.RSSIdlePerNode/(1<<20), x.RSSAfterPerNode/(1<<20), x.RSSSettledPerNode/(1<<20)))
	}
	printTopology(w, r)
	for _, x := range r.Results {
		if c := x.AuditStream; c != nil {
			fmt.Fprintf(w, "%7d audit stream: %d records in the file, %d in the stream (%d messages), %d missing, %d extra, %d nodes complete; all there %.2fs after the last reply\n",
				x.Nodes, c.Records, c.Stored, c.Messages, c.Missing, c.Extra, c.Nodes, c.DrainSeconds)
		}
	}
	fmt.Fprintln(w, "\n(ping | rpc; CPU bound = CPU of nodes+client+brokers per request / CPUs; RSS idle | right after the runs | settled after the runs; times from publishing the request to the last verified reply)")
}

func writeFile(path, content string, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), mode)
}
