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
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/client"
	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/dial"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/internal/freeport"
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
}

// Report is what `tutti bench --out` writes.
type Report struct {
	Date    string   `json:"date"`
	Machine Machine  `json:"machine"`
	Key     string   `json:"key_type"`
	Audit   string   `json:"audit"`
	Runs    int      `json:"runs"`
	Leaf    bool     `json:"leaf,omitempty"`
	Results []Result `json:"results"`
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
	NodeCPUms      float64 `json:"node_cpu_per_request_ms"`
	ClientCPUus    float64 `json:"client_cpu_per_reply_us"`
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
	if o.Audit != "file" && o.Audit != emulate.AuditStream && o.Audit != emulate.AuditDiscard {
		return fmt.Errorf("--audit %q: want file, stream or discard", o.Audit)
	}
	if kt, err := x509.ParseKeyType(o.Key); err != nil || kt == x509.KeyRSA {
		return fmt.Errorf("--key %q: want ecdsa or ed25519", o.Key)
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
	env, err := setup(dir, kt, o.Audit)
	if err != nil {
		return err
	}
	if o.Leaf {
		if env.leaf, err = setupLeaf(env); err != nil {
			return err
		}
	}
	broker, err := startWorker(ctx, dir, "broker", "--config", env.brokerConf)
	if err != nil {
		return err
	}
	defer broker.stop()
	if env.leaf != nil {
		leaf, err := startLeaf(ctx, env.leaf)
		if err != nil {
			return fmt.Errorf("%w; hub log %s: %s", err, broker.logPath, tail(broker.logPath))
		}
		defer leaf.stop()
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
	rep := &Report{Date: time.Now().UTC().Format(time.RFC3339), Machine: machine(), Key: string(kt), Audit: o.Audit, Runs: o.Runs, Leaf: o.Leaf}
	for _, n := range o.Nodes {
		fmt.Fprintf(stderr, "bench: %d nodes…\n", n)
		r, err := benchSize(ctx, o, env, broker, cl, n)
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
	dir, pki                           string
	brokerConf, serverConf, clientConf string
	audit                              string // emulator --audit value
	auditFile                          string // the nodes' audit log (file, stream)
	keyType                            x509.KeyType
	stream                             *streamReader // --audit stream
	leaf                               *leafEnv      // --leaf
}

// setup creates (or reuses) the PKI and writes the configuration
// of the broker, the nodes and the client.
func setup(dir string, kt x509.KeyType, audit string) (*benchEnv, error) {
	e := &benchEnv{dir: dir, pki: filepath.Join(dir, "pki-"+string(kt)), keyType: kt}
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
	port, err := freeport.Get()
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
	hosts := fmt.Sprintf("plugin.choria.middleware_hosts = nats://127.0.0.1:%d\n", port)
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
	for _, d := range []string{e.auditFile + ".spool", filepath.Join(dir, "jetstream")} {
		if err := os.RemoveAll(d); err != nil {
			return nil, err
		}
	}
	e.brokerConf, e.serverConf, e.clientConf = filepath.Join(dir, "broker.conf"), filepath.Join(dir, "server.conf"), filepath.Join(dir, "client.conf")
	files := []struct{ path, body string }{
		{e.brokerConf, "identity = broker.bench\nlogfile = stderr\nloglevel = warn\n" + sec("broker.bench") +
			fmt.Sprintf("plugin.choria.network.listen_address = 127.0.0.1\nplugin.choria.network.client_port = %d\n", port) +
			// --shared-conn: the emulator carries every node on the first
			// node's connection and certificate.
			"plugin.tutti.broker.shared_node_certificates = ^emu-0*1$\n" +
			// JetStream, and with it the audit stream the broker creates,
			// whatever --audit is, so the broker is the same; the client
			// reads the stream to check --audit stream's delivery.
			"plugin.choria.network.stream.store = " + filepath.Join(dir, "jetstream") + "\n" +
			"plugin.tutti.broker.audit_readers = ^bench\\.mcollective$\n"},
		{filepath.Join(policies, "rpcutil.policy"), "policy default deny\nallow\tchoria=bench.mcollective\t*\t*\t*\n"},
		{e.serverConf, "identity = emu\ncollectives = mcollective\nlogfile = stderr\n" + sec("") + hosts +
			"rpcauthorization = 1\nrpcauthprovider = action_policy\nplugin.tutti.policy_dir = " + policies + "\n" +
			"rpcaudit = 1\nplugin.rpcaudit.logfile = " + e.auditFile + "\n"},
		{e.clientConf, "identity = bench.mcollective\n" + sec("bench.mcollective") + hosts + "plugin.tutti.require_signed_replies = 1\n"},
	}
	for _, f := range files {
		if err := writeFile(f.path, f.body, 0o644); err != nil {
			return nil, err
		}
	}
	return e, nil
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

// benchSize starts an emulated fleet of n nodes and measures it.
func benchSize(ctx context.Context, o *Options, env *benchEnv, broker *worker, cl *client.Client, n int) (*Result, error) {
	args := []string{"--config", env.serverConf, "--pki", env.pki, "--count", strconv.Itoa(n), "--key", string(env.keyType), "--audit", env.audit}
	if o.SharedConn {
		args = append(args, "--shared-conn")
	}
	emu, err := startWorker(ctx, env.dir, "emulate", args...)
	if err != nil {
		return nil, err
	}
	defer emu.stop()
	var er emulate.Report
	if err := emu.readReport(ctx, 10*time.Minute, &er); err != nil {
		return nil, err
	}
	r := &Result{Nodes: n, StartSeconds: er.StartSeconds, CertsSeconds: er.CertsSeconds, SharedConn: er.SharedConn,
		RSSIdlePerNode: er.RSSPerNode}
	ping := client.Request{Discovery: true, Filter: protocol.NewFilter(""), Expect: n, Timeout: o.Timeout}
	rpc := client.Request{Agent: "rpcutil", Action: "ping", Filter: protocol.NewFilter("rpcutil"), Expect: n, Timeout: o.Timeout}
	for _, into := range []*float64{&r.WarmupSeconds, &r.SecondWarmupSeconds} {
		warm, err := cl.Do(ctx, ping, nil)
		if err != nil {
			return nil, err
		}
		if warm.Replies-warm.Failed < n {
			return nil, fmt.Errorf("warm-up ping: %d of %d nodes replied (%d failed verification) in %s; see %s",
				warm.Replies-warm.Failed, n, warm.Failed, o.Timeout, emu.logPath)
		}
		*into = warm.Elapsed.Seconds()
	}
	for _, s := range []struct {
		req    client.Request
		series *Series
	}{{ping, &r.Ping}, {rpc, &r.RPC}} {
		if err := measure(ctx, cl, s.req, o.Runs, n, emu.pid(), broker.pid(), s.series); err != nil {
			return nil, err
		}
	}
	if rss, err := procstat.RSS(emu.pid()); err == nil {
		r.RSSAfterPerNode = float64(rss-er.RSSBefore) / float64(n)
	}
	if env.stream != nil {
		if r.AuditStream, err = env.stream.check(ctx, env.auditFile); err != nil {
			return nil, err
		}
	}
	if err := emu.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		return nil, err
	}
	var m emulate.Memory
	if err := emu.readReport(ctx, time.Minute, &m); err != nil {
		return nil, fmt.Errorf("settled memory: %w", err)
	}
	r.RSSSettledPerNode = m.RSSPerNode
	if r.AuditStream != nil {
		r.AuditStream.Spool = m.AuditSpool // after delivery
	}
	return r, nil
}

// settle is how long measure waits after the last reply before reading
// CPU times, so the nodes' last goroutines finish.
const settle = 150 * time.Millisecond

// measure sends req runs times and fills s.
func measure(ctx context.Context, cl *client.Client, req client.Request, runs, n, nodePID, brokerPID int, s *Series) error {
	var nodeCPU, brokerCPU, clientCPU time.Duration
	for range runs {
		time.Sleep(settle)
		n0, b0, c0, err := cpuTimes(nodePID, brokerPID)
		if err != nil {
			return err
		}
		sum, err := cl.Do(ctx, req, nil)
		if err != nil {
			return err
		}
		time.Sleep(settle)
		n1, b1, c1, err := cpuTimes(nodePID, brokerPID)
		if err != nil {
			return err
		}
		nodeCPU, brokerCPU, clientCPU = nodeCPU+n1-n0, brokerCPU+b1-b0, clientCPU+c1-c0
		ok := sum.Replies - sum.Failed
		s.Replies += ok
		s.Failed += sum.Failed
		s.Missing += max(0, n-ok)
		s.Seconds = append(s.Seconds, sum.Elapsed.Seconds())
	}
	sorted := slices.Sorted(slices.Values(s.Seconds))
	s.Min, s.Max, s.Median = sorted[0], sorted[len(sorted)-1], median(sorted)
	s.NodeCPUSeconds = nodeCPU.Seconds()
	s.NodeCPUms = ms(nodeCPU) / float64(runs*n)
	s.BrokerCPUms = ms(brokerCPU) / float64(runs)
	s.CPUBoundSeconds = (nodeCPU + brokerCPU + clientCPU).Seconds() / float64(runs) / float64(runtime.NumCPU())
	if s.Replies > 0 {
		s.ClientCPUus = float64(clientCPU.Microseconds()) / float64(s.Replies)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(sorted []float64) float64 {
	m := len(sorted) / 2
	if len(sorted)%2 == 1 {
		return sorted[m]
	}
	return (sorted[m-1] + sorted[m]) / 2
}

// cpuTimes reads the CPU used so far by the emulator, the broker and
// this process (the client).
func cpuTimes(nodePID, brokerPID int) (nodes, broker, self time.Duration, err error) {
	if nodes, err = procstat.CPU(nodePID); err != nil {
		return
	}
	if broker, err = procstat.CPU(brokerPID); err != nil {
		return
	}
	var ru syscall.Rusage
	if err = syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return
	}
	self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return
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
// stderr going to <dir>/<kind>.log.
func startWorker(ctx context.Context, dir, kind string, args ...string) (*worker, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, kind+".log")
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
	fmt.Fprintf(w, "tutti bench: %d runs per size, %s keys, audit %s, %d CPUs (%s), %s\n\n", r.Runs, r.Key, r.Audit,
		r.Machine.CPUs, r.Machine.Model, r.Machine.GoVersion)
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
	for _, x := range r.Results {
		if c := x.AuditStream; c != nil {
			fmt.Fprintf(w, "%7d audit stream: %d records in the file, %d in the stream, %d missing, %d extra, %d nodes complete; all there %.2fs after the last reply\n",
				x.Nodes, c.Records, c.Stored, c.Missing, c.Extra, c.Nodes, c.DrainSeconds)
		}
	}
	fmt.Fprintln(w, "\n(ping | rpc; CPU bound = CPU of nodes+client+broker per request / CPUs; RSS idle | right after the runs | settled after the runs; times from publishing the request to the last verified reply)")
}

func writeFile(path, content string, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), mode)
}
