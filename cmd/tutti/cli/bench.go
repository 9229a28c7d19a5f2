package cli

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
	"text/template"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/tuttifleet/tutti/client"
	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/internal/freeport"
	"github.com/tuttifleet/tutti/internal/procstat"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server/daemon"
	"github.com/tuttifleet/tutti/server/emulate"
)

func init() {
	addVerb(newBenchCmd)
	addVerb(newBenchWorkerCmd)
}

// benchWorkerEnv marks the broker and emulator processes tutti bench
// starts (tests re-execute their own binary with it).
const benchWorkerEnv = "TUTTI_BENCH_WORKER"

type benchOpts struct {
	nodes      []int
	runs       int
	key        string
	out, plot  string
	workdir    string
	audit      string
	timeout    time.Duration
	sharedConn bool
	from       string
}

func newBenchCmd(g *globals) *cobra.Command {
	o := &benchOpts{}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure a fleet: time to all replies, CPU per request on nodes, client and broker, RSS per node",
		Long: "bench starts the embedded broker (TLS, mutual auth) and an emulated fleet (tuttid emulate) as child\n" +
			"processes, then runs `ping` and `rpc rpcutil ping` --runs times per fleet size with full security:\n" +
			"signed requests, signed replies, every reply verified by the client. CPU is read per process from\n" +
			"/proc, so nodes, client and broker are measured separately. See docs/benchmark.md.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBench(cmd.Context(), g, o) },
	}
	fl := cmd.Flags()
	fl.IntSliceVar(&o.nodes, "nodes", []int{100, 1000, 5000, 10000}, "fleet sizes")
	fl.IntVar(&o.runs, "runs", 5, "measured requests of each kind per fleet size")
	fl.StringVar(&o.key, "key", "ecdsa", "key type of the CA, broker, client and nodes: ecdsa or ed25519")
	fl.StringVar(&o.out, "out", "", "write the results as JSON to this file")
	fl.StringVar(&o.plot, "plot", "", "write an SVG plot of time to all replies against fleet size to this file")
	fl.StringVar(&o.workdir, "workdir", "", "keep the PKI, configs, logs and issued node certificates here (default: a temporary directory, removed)")
	fl.StringVar(&o.audit, "audit", "file", `node audit: "file" (one audit log in the workdir) or "discard" (records encoded, then dropped)`)
	fl.DurationVar(&o.timeout, "timeout", time.Minute, "longest wait for all replies to one request")
	fl.BoolVar(&o.sharedConn, "shared-conn", false, "emulated nodes share one broker connection")
	fl.StringVar(&o.from, "from", "", "measure nothing: print and plot the results of an earlier --out file")
	return cmd
}

// BenchReport is what `tutti bench --out` writes.
type BenchReport struct {
	Date    string        `json:"date"`
	Machine BenchMachine  `json:"machine"`
	Key     string        `json:"key_type"`
	Audit   string        `json:"audit"`
	Runs    int           `json:"runs"`
	Results []BenchResult `json:"results"`
}

// BenchMachine describes where the figures were taken.
type BenchMachine struct {
	CPUs      int     `json:"cpus"`
	Model     string  `json:"cpu_model"`
	MemGiB    float64 `json:"mem_gib"`
	GoVersion string  `json:"go_version"`
	OS        string  `json:"os"`
}

// BenchResult is one fleet size.
type BenchResult struct {
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
	WarmupSeconds       float64     `json:"warmup_seconds"`
	SecondWarmupSeconds float64     `json:"second_warmup_seconds"`
	Ping                BenchSeries `json:"ping"`
	RPC                 BenchSeries `json:"rpc"`
	// RSS per node: after startup (idle, garbage returned to the OS),
	// right after the last request (with the garbage and goroutine
	// stacks of the bursts), and settled again after that.
	RSSIdlePerNode    float64 `json:"rss_idle_per_node_bytes"`
	RSSAfterPerNode   float64 `json:"rss_after_per_node_bytes"`
	RSSSettledPerNode float64 `json:"rss_settled_per_node_bytes"`
}

// BenchSeries is one kind of request repeated Runs times.
type BenchSeries struct {
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

func runBench(ctx context.Context, g *globals, o *benchOpts) error {
	if o.from != "" {
		return replayBench(g, o)
	}
	if o.runs < 1 || len(o.nodes) == 0 || slices.ContainsFunc(o.nodes, func(n int) bool { return n < 1 }) {
		return exitWith(ExitUsage, errors.New("--runs and every --nodes value must be at least 1"))
	}
	if o.audit != "file" && o.audit != emulate.AuditDiscard {
		return exitWith(ExitUsage, fmt.Errorf("--audit %q: want file or discard", o.audit))
	}
	kt, err := x509.ParseKeyType(o.key)
	if err != nil || kt == x509.KeyRSA {
		return exitWith(ExitUsage, fmt.Errorf("--key %q: want ecdsa or ed25519", o.key))
	}
	dir := o.workdir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "tutti-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	env, err := setupBench(dir, kt, o.audit)
	if err != nil {
		return err
	}
	broker, err := startWorker(ctx, dir, "broker", "--config", env.brokerConf)
	if err != nil {
		return err
	}
	defer broker.stop()
	cl, conn, err := benchClient(ctx, env.clientConf)
	if err != nil {
		return fmt.Errorf("%w; broker log %s: %s", err, broker.logPath, tail(broker.logPath))
	}
	defer conn.Close()
	rep := &BenchReport{Date: time.Now().UTC().Format(time.RFC3339), Machine: machine(), Key: string(kt), Audit: o.audit, Runs: o.runs}
	for _, n := range o.nodes {
		fmt.Fprintf(g.stderr, "bench: %d nodes…\n", n)
		r, err := benchSize(ctx, o, env, broker, cl, n)
		if err != nil {
			return exitWith(ExitFailed, fmt.Errorf("%d nodes: %w", n, err))
		}
		rep.Results = append(rep.Results, *r)
	}
	if err := reportBench(g, o, rep); err != nil {
		return err
	}
	for _, r := range rep.Results {
		if r.Ping.Failed+r.Ping.Missing+r.RPC.Failed+r.RPC.Missing > 0 {
			return exitWith(ExitFailed, fmt.Errorf("%d nodes: some replies failed verification or never came", r.Nodes))
		}
	}
	return nil
}

// replayBench prints and plots an earlier --out file.
func replayBench(g *globals, o *benchOpts) error {
	b, err := os.ReadFile(o.from)
	if err != nil {
		return err
	}
	var rep BenchReport
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("%s: %w", o.from, err)
	}
	if len(rep.Results) == 0 {
		return fmt.Errorf("%s holds no results", o.from)
	}
	return reportBench(g, o, &rep)
}

// reportBench prints rep and writes the --out and --plot files.
func reportBench(g *globals, o *benchOpts, rep *BenchReport) error {
	printBench(g.stdout, rep)
	if o.out != "" && o.out != o.from {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.out, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if o.plot != "" {
		return writePlot(o.plot, rep)
	}
	return nil
}

// benchEnv is the bench's working directory.
type benchEnv struct {
	dir, pki                           string
	brokerConf, serverConf, clientConf string
	audit                              string // emulator --audit value
	keyType                            x509.KeyType
}

// setupBench creates (or reuses) the PKI and writes the configuration
// of the broker, the nodes and the client.
func setupBench(dir string, kt x509.KeyType, audit string) (*benchEnv, error) {
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
	e.audit = audit
	if audit == "file" {
		// a fresh log per bench: a kept workdir would grow by ~200 MB a run
		e.audit = filepath.Join(dir, "audit.log")
		if err := os.Remove(e.audit); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	e.brokerConf, e.serverConf, e.clientConf = filepath.Join(dir, "broker.conf"), filepath.Join(dir, "server.conf"), filepath.Join(dir, "client.conf")
	files := []struct{ path, body string }{
		{e.brokerConf, "identity = broker.bench\nlogfile = stderr\nloglevel = warn\n" + sec("broker.bench") +
			fmt.Sprintf("plugin.choria.network.listen_address = 127.0.0.1\nplugin.choria.network.client_port = %d\n", port) +
			// --shared-conn: the emulator carries every node on the first
			// node's connection and certificate.
			"plugin.tutti.broker.shared_node_certificates = ^emu-0*1$\n"},
		{filepath.Join(policies, "rpcutil.policy"), "policy default deny\nallow\tchoria=bench.mcollective\t*\t*\t*\n"},
		{e.serverConf, "identity = emu\ncollectives = mcollective\nlogfile = stderr\n" + sec("") + hosts +
			"rpcauthorization = 1\nrpcauthprovider = action_policy\nplugin.tutti.policy_dir = " + policies + "\n" +
			"rpcaudit = 1\nplugin.rpcaudit.logfile = " + filepath.Join(dir, "audit.log") + "\n"},
		{e.clientConf, "identity = bench.mcollective\n" + sec("bench.mcollective") + hosts + "plugin.tutti.require_signed_replies = 1\n"},
	}
	for _, f := range files {
		if err := writeFile(f.path, f.body, 0o644); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// benchClient connects the measuring client, as `tutti` would from
// client.conf, requiring a verified signature on every reply.
func benchClient(ctx context.Context, conf string) (*client.Client, connector.Connector, error) {
	cfg, _, err := config.LoadClient(conf)
	if err != nil {
		return nil, nil, err
	}
	p, err := x509.New(daemon.SecurityConfig(cfg.Security))
	if err != nil {
		return nil, nil, err
	}
	l := logrus.New()
	l.SetOutput(io.Discard)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second) // the broker child is starting
	defer cancel()
	conn, err := daemon.Connect(cctx, &cfg.Common, p, logrus.NewEntry(l))
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
func benchSize(ctx context.Context, o *benchOpts, env *benchEnv, broker *worker, cl *client.Client, n int) (*BenchResult, error) {
	args := []string{"--config", env.serverConf, "--pki", env.pki, "--count", strconv.Itoa(n), "--key", string(env.keyType), "--audit", env.audit}
	if o.sharedConn {
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
	r := &BenchResult{Nodes: n, StartSeconds: er.StartSeconds, CertsSeconds: er.CertsSeconds, SharedConn: er.SharedConn,
		RSSIdlePerNode: er.RSSPerNode}
	ping := client.Request{Discovery: true, Filter: protocol.NewFilter(""), Expect: n, Timeout: o.timeout}
	rpc := client.Request{Agent: "rpcutil", Action: "ping", Filter: protocol.NewFilter("rpcutil"), Expect: n, Timeout: o.timeout}
	for _, into := range []*float64{&r.WarmupSeconds, &r.SecondWarmupSeconds} {
		warm, err := cl.Do(ctx, ping, nil)
		if err != nil {
			return nil, err
		}
		if warm.Replies-warm.Failed < n {
			return nil, fmt.Errorf("warm-up ping: %d of %d nodes replied (%d failed verification) in %s; see %s",
				warm.Replies-warm.Failed, n, warm.Failed, o.timeout, emu.logPath)
		}
		*into = warm.Elapsed.Seconds()
	}
	for _, s := range []struct {
		req    client.Request
		series *BenchSeries
	}{{ping, &r.Ping}, {rpc, &r.RPC}} {
		if err := measure(ctx, cl, s.req, o.runs, n, emu.pid(), broker.pid(), s.series); err != nil {
			return nil, err
		}
	}
	if rss, err := procstat.RSS(emu.pid()); err == nil {
		r.RSSAfterPerNode = float64(rss-er.RSSBefore) / float64(n)
	}
	if err := emu.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		return nil, err
	}
	var m emulate.Memory
	if err := emu.readReport(ctx, time.Minute, &m); err != nil {
		return nil, fmt.Errorf("settled memory: %w", err)
	}
	r.RSSSettledPerNode = m.RSSPerNode
	return r, nil
}

// settle is how long measure waits after the last reply before reading
// CPU times, so the nodes' last goroutines finish.
const settle = 150 * time.Millisecond

// measure sends req runs times and fills s.
func measure(ctx context.Context, cl *client.Client, req client.Request, runs, n, nodePID, brokerPID int, s *BenchSeries) error {
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
	cmd := exec.Command(self, append([]string{"bench-worker", kind}, args...)...)
	cmd.Env = append(os.Environ(), benchWorkerEnv+"=1")
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

// newBenchWorkerCmd is the hidden `tutti bench-worker broker|emulate`
// that tutti bench runs as its child processes.
func newBenchWorkerCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "bench-worker", Hidden: true, Short: "child processes of tutti bench"}
	var conf string
	brokerCmd := &cobra.Command{
		Use: "broker", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return daemon.RunBroker(cmd.Context(), conf) },
	}
	brokerCmd.Flags().StringVar(&conf, "config", "", "broker.conf")
	var (
		rc  emulate.RunConfig
		key string
	)
	emuCmd := &cobra.Command{
		Use: "emulate", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kt, err := x509.ParseKeyType(key)
			if err != nil {
				return err
			}
			rc.KeyType, rc.ConfigPath, rc.LogLevel = kt, conf, "warn"
			rc.Ready = func(r emulate.Report) error { return json.NewEncoder(g.stdout).Encode(r) }
			rc.Settled = func(m emulate.Memory) { _ = json.NewEncoder(g.stdout).Encode(m) }
			return emulate.Run(cmd.Context(), rc)
		},
	}
	fl := emuCmd.Flags()
	fl.StringVar(&conf, "config", "", "server.conf")
	fl.IntVar(&rc.Count, "count", 1, "nodes")
	fl.StringVar(&rc.PKIDir, "pki", "", "PKI directory")
	fl.StringVar(&key, "key", "ecdsa", "key type")
	fl.StringVar(&rc.Audit, "audit", "", "audit destination")
	fl.BoolVar(&rc.SharedConn, "shared-conn", false, "one connection")
	cmd.AddCommand(brokerCmd, emuCmd)
	return cmd
}

func machine() BenchMachine {
	m := BenchMachine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
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

func printBench(w io.Writer, r *BenchReport) {
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
	fmt.Fprintln(w, "\n(ping | rpc; CPU bound = CPU of nodes+client+broker per request / CPUs; RSS idle | right after the runs | settled after the runs; times from publishing the request to the last verified reply)")
}

// The plot: time to all replies (median, min–max whiskers) against
// fleet size, with the issue's targets, as a self-contained SVG.
const (
	plotW, plotH               = 640.0, 400.0
	plotL, plotR, plotT, plotB = 64.0, 620.0, 40.0, 352.0 // the plot area
)

// benchTargets are the issue's targets: all replies to a ping from this
// many nodes within this many seconds.
var benchTargets = []struct {
	nodes   int
	seconds float64
}{{1000, 0.3}, {10000, 2}}

type plotPoint struct{ X, Y, YMin, YMax float64 }

type plotSeries struct {
	Name, Color string
	Dash        string // stroke-dasharray; "" for a solid line
	Whiskers    bool
	Points      []plotPoint
	Line        string
	LegendY     float64
}

type plotMark struct {
	X, Y   float64
	Label  string
	Anchor string // text-anchor of the label: start or end
	DX     float64
}

type plotData struct {
	W, H, L, R, T, B float64
	Title            string
	XTicks, YTicks   []plotMark
	Series           []plotSeries
	Targets          []plotMark
}

var plotTmpl = template.Must(template.New("plot").Parse(`<svg xmlns="http://www.w3.org/2000/svg" width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}" font-family="sans-serif" font-size="12">
<rect width="{{.W}}" height="{{.H}}" fill="white"/>
<text x="{{.L}}" y="22" font-size="14">{{.Title}}</text>
{{- range .XTicks}}
<line x1="{{.X}}" y1="{{$.B}}" x2="{{.X}}" y2="{{$.T}}" stroke="#ddd"/><text x="{{.X}}" y="{{$.B}}" dy="16" text-anchor="middle">{{.Label}}</text>
{{- end}}
{{- range .YTicks}}
<line x1="{{$.L}}" y1="{{.Y}}" x2="{{$.R}}" y2="{{.Y}}" stroke="#ddd"/><text x="{{$.L}}" y="{{.Y}}" dx="-6" dy="4" text-anchor="end">{{.Label}}</text>
{{- end}}
<line x1="{{.L}}" y1="{{.B}}" x2="{{.R}}" y2="{{.B}}" stroke="black"/>
<line x1="{{.L}}" y1="{{.T}}" x2="{{.L}}" y2="{{.B}}" stroke="black"/>
<text x="{{.R}}" y="{{.B}}" dy="36" text-anchor="end">nodes</text>
<text x="16" y="{{.T}}" transform="rotate(-90 16 {{.T}})" text-anchor="end">seconds to all replies</text>
{{- range .Targets}}
<path d="M{{.X}} {{.Y}} m-5 -5 l10 10 m0 -10 l-10 10" stroke="#c00" stroke-width="2"/><text x="{{.X}}" y="{{.Y}}" dx="{{.DX}}" dy="-6" text-anchor="{{.Anchor}}" fill="#c00">{{.Label}}</text>
{{- end}}
{{- range .Series}}{{$c := .Color}}
<polyline points="{{.Line}}" fill="none" stroke="{{$c}}" stroke-width="2"{{if .Dash}} stroke-dasharray="{{.Dash}}"{{end}}/>
{{- if .Whiskers}}{{range .Points}}
<line x1="{{.X}}" y1="{{.YMin}}" x2="{{.X}}" y2="{{.YMax}}" stroke="{{$c}}" stroke-width="1.5"/><circle cx="{{.X}}" cy="{{.Y}}" r="3.5" fill="{{$c}}"/>
{{- end}}{{end}}
<path d="M{{$.L}} {{.LegendY}} m8 0 h18" stroke="{{$c}}" stroke-width="3"{{if .Dash}} stroke-dasharray="{{.Dash}}"{{end}}/><text x="{{$.L}}" y="{{.LegendY}}" dx="30" dy="4">{{.Name}}</text>
{{- end}}
</svg>
`))

// writePlot renders rep as an SVG file.
func writePlot(path string, rep *BenchReport) error {
	var out strings.Builder
	if err := plotTmpl.Execute(&out, plotLayout(rep)); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(out.String()), 0o644)
}

func plotLayout(rep *BenchReport) plotData {
	d := plotData{W: plotW, H: plotH, L: plotL, R: plotR, T: plotT, B: plotB,
		Title: fmt.Sprintf("tutti: time to all verified replies (%d CPUs, %s keys, %d runs)", rep.Machine.CPUs, rep.Key, rep.Runs)}
	maxN, maxY := 1, 0.0
	for _, r := range rep.Results {
		maxN = max(maxN, r.Nodes)
		maxY = max(maxY, r.Ping.Max, r.RPC.Max)
	}
	for _, t := range benchTargets {
		if t.nodes <= maxN {
			maxY = max(maxY, t.seconds)
		}
	}
	yTop := niceCeil(maxY)
	x := func(n int) float64 { return round1(plotL + (plotR-plotL)*float64(n)/float64(maxN)) }
	y := func(s float64) float64 { return round1(plotB - (plotB-plotT)*s/yTop) }
	for _, r := range rep.Results {
		d.XTicks = append(d.XTicks, plotMark{X: x(r.Nodes), Label: strconv.Itoa(r.Nodes)})
	}
	for i := 0; i <= 5; i++ {
		v := yTop * float64(i) / 5
		d.YTicks = append(d.YTicks, plotMark{Y: y(v), Label: strconv.FormatFloat(v, 'g', 3, 64)})
	}
	for _, t := range benchTargets {
		if t.nodes <= maxN {
			m := plotMark{X: x(t.nodes), Y: y(t.seconds), Label: fmt.Sprintf("target %gs", t.seconds), Anchor: "start", DX: 8}
			if m.X > plotR-80 {
				m.Anchor, m.DX = "end", -8
			}
			d.Targets = append(d.Targets, m)
		}
	}
	for k, s := range []struct {
		name, color, dash string
		whiskers          bool
		get               func(BenchResult) (median, lo, hi float64)
	}{
		{"ping (median, min–max)", "#1f6fb4", "", true, func(r BenchResult) (float64, float64, float64) { return r.Ping.Median, r.Ping.Min, r.Ping.Max }},
		{"rpc rpcutil ping (median, min–max)", "#e07b00", "", true, func(r BenchResult) (float64, float64, float64) { return r.RPC.Median, r.RPC.Min, r.RPC.Max }},
		{"ping: CPU of nodes+client+broker / CPUs", "#777", "6 4", false, func(r BenchResult) (float64, float64, float64) {
			return r.Ping.CPUBoundSeconds, r.Ping.CPUBoundSeconds, r.Ping.CPUBoundSeconds
		}},
	} {
		ps := plotSeries{Name: s.name, Color: s.color, Dash: s.dash, Whiskers: s.whiskers, LegendY: plotT + 12 + 18*float64(k)}
		var line []string
		for _, r := range rep.Results {
			med, lo, hi := s.get(r)
			p := plotPoint{X: x(r.Nodes), Y: y(med), YMin: y(lo), YMax: y(hi)}
			ps.Points = append(ps.Points, p)
			line = append(line, fmt.Sprintf("%g,%g", p.X, p.Y))
		}
		ps.Line = strings.Join(line, " ")
		d.Series = append(d.Series, ps)
	}
	return d
}

// niceCeil rounds v up to a round number: 1, 1.5, 2, 2.5, 3, 4, 5, 6
// or 8 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := 1e-3
	for p*10 <= v {
		p *= 10
	}
	for _, m := range []float64{1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10} {
		if m*p >= v {
			r, _ := strconv.ParseFloat(strconv.FormatFloat(m*p, 'g', 6, 64), 64) // 0.30000000000000004 → 0.3
			return r
		}
	}
	return 10 * p
}

func round1(v float64) float64 { return float64(int(v*10+0.5)) / 10 }
