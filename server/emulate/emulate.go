// Package emulate runs many complete tutti nodes in one process, to
// measure what a fleet costs the broker, the client and each node
// (`tuttid emulate`, `tutti bench`).
//
// Every emulated node is a real server.Node doing all the work of a
// tuttid per request: decode, signature and certificate verification,
// TTL and replay checks, filter, authorization, audit, the agent, and a
// reply signed with its own key. What a fleet would not share is not
// shared: each node has its own identity (emu-00001…), its own
// certificate and private key issued from the PKI directory's CA, its
// own x509 provider (verified-certificate caches, CRLs and the fast
// path's CA state included), its own replay cache, its own facts and,
// unless SharedConn is set, its own TLS connection to the broker. What a
// fleet built from one configuration shares is shared and read only: the
// configuration, the base fact files, the ActionPolicy files, and the
// CA file parsed and the name rules compiled (x509.Trust). The audit destination
// is stated in the Report: records are either encoded and dropped
// (AuditDiscard) or appended to one file that every node writes to;
// with AuditStream each node also sends them, as tuttid does with
// plugin.tutti.audit.stream, through its own spool and its own
// JetStream connection to the broker's audit stream.
package emulate

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/aaa/actionpolicy"
	"github.com/tuttifleet/tutti/aaa/audit"
	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/dial"
	"github.com/tuttifleet/tutti/internal/procstat"
	"github.com/tuttifleet/tutti/security/replay"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server"
	"github.com/tuttifleet/tutti/server/facts"

	// the built-in agents, as tuttid (server/daemon/agents.go) loads them
	_ "github.com/tuttifleet/tutti/agents/discovery"
	_ "github.com/tuttifleet/tutti/agents/rpcutil"
	_ "github.com/tuttifleet/tutti/agents/service"
)

// Defaults applied by Start.
const (
	DefaultPrefix = "emu"
	// DefaultParallel is how many nodes connect at the same time.
	DefaultParallel = 64
	// DefaultReplayMax bounds each node's replay cache. A real node's
	// default (replay.DefaultMax) sizes it for a busy long-lived node;
	// 4096 requests per TTL window is plenty for an emulated one and keeps
	// the cache's fixed part small.
	DefaultReplayMax = 4096
)

// Options configure an emulated fleet.
type Options struct {
	// Config is the node configuration every instance starts from
	// (server.conf): broker, collectives, security rules, facts files,
	// authorization, audit. Its identity, certificate and key are
	// replaced per node.
	Config *config.Server
	// File is Config's raw file (rpcutil#get_config_item); may be nil.
	File *config.File
	// Count is the number of nodes (≥ 1).
	Count int
	// Offset numbers the nodes Offset+1 … Offset+Count (identities and
	// the index fact), so several emulator processes can share one fleet
	// without sharing a name (default 0).
	Offset int
	// PKIDir is a `tutti pki` directory holding ca.pem and ca.key.
	// Issued certificates are cached in PKIDir/emulate/.
	PKIDir string
	// Prefix names the nodes: <prefix>-00001… (default "emu").
	Prefix string
	// KeyType of the nodes' keys (default ECDSA P-256).
	KeyType x509.KeyType
	// Audit overrides the configuration's audit setting: "" follows the
	// configuration (rpcaudit, plugin.rpcaudit.logfile shared by all
	// nodes, plugin.tutti.audit.stream), AuditDiscard encodes each record
	// and drops it, AuditStream is the configuration's file plus the
	// stream whatever plugin.tutti.audit.stream says, any other value is
	// a file every node appends to (and no stream).
	Audit string
	// SharedConn puts every node on one broker connection instead of one
	// each (the broker then sees one client).
	SharedConn bool
	// Parallel is how many nodes connect at once (default 64).
	Parallel int
	// ReplayMax bounds each node's replay cache (default 4096).
	ReplayMax int
	// Log receives the fleet's and the nodes' log lines. Required.
	Log *logrus.Entry
}

// Report describes a started fleet.
type Report struct {
	Count      int    `json:"count"`
	First      string `json:"first"`
	Last       string `json:"last"`
	KeyType    string `json:"key_type"`
	SharedConn bool   `json:"shared_conn"`
	// Audit is "off", "discard (records encoded, then dropped)" or
	// "file <path> (shared by all nodes)", followed with AuditStream by
	// " + stream (a spool per node, delivering over its broker connection)".
	Audit        string  `json:"audit"`
	CertsIssued  int     `json:"certs_issued"`
	CertsCached  int     `json:"certs_cached"`
	CertsSeconds float64 `json:"certs_seconds"`
	// StartSeconds is the time from Start to every node subscribed,
	// certificates included.
	StartSeconds float64 `json:"start_seconds"`
	// RSSBefore and RSSAfter are VmRSS (bytes) before anything was built
	// and once every node is running (after a GC that returns free memory
	// to the OS); RSSPerNode is their difference over Count.
	RSSBefore  int64   `json:"rss_before_bytes"`
	RSSAfter   int64   `json:"rss_after_bytes"`
	RSSPerNode float64 `json:"rss_per_node_bytes"`
	// HeapPerNode is the Go heap in use per node, StackPerNode the
	// goroutine stacks, for comparison.
	HeapPerNode  float64 `json:"heap_per_node_bytes"`
	StackPerNode float64 `json:"stack_per_node_bytes"`
	Goroutines   int     `json:"goroutines"`
}

// Fleet is a running emulated fleet.
type Fleet struct {
	nodes   []*server.Node
	provs   []*x509.Provider
	conns   []connector.Connector
	crl     *crlWatch
	streams []*nodeStream
	auditor audit.Auditor
	report  Report
	log     *logrus.Entry
	stop    sync.Once
	// heapBefore is HeapInuse before the fleet was built.
	heapBefore int64
}

// Start builds, connects and starts Count nodes and returns once every
// node is subscribed. On error everything started is stopped again.
func Start(ctx context.Context, o Options) (*Fleet, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	rssBefore, _ := procstat.SelfRSS()
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	t0 := time.Now()
	f := &Fleet{log: o.Log.WithField("component", "emulate")}
	ok := false
	defer func() {
		if !ok {
			f.Shutdown(context.Background())
		}
	}()
	names := make([]string, o.Count)
	width := max(5, len(fmt.Sprint(o.Offset+o.Count)))
	for i := range names {
		names[i] = fmt.Sprintf("%s-%0*d", o.Prefix, width, o.Offset+i+1)
	}
	store, err := newCertStore(o.PKIDir, o.KeyType)
	if err != nil {
		return nil, err
	}
	pairs, err := store.all(names)
	if err != nil {
		return nil, err
	}
	certsSeconds := time.Since(t0).Seconds()
	sh, err := f.shared(o)
	if err != nil {
		return nil, err
	}
	// one configuration and one CA: parsed and compiled once, each
	// node's provider built on them (its own key, caches and CRLs)
	if sh.trust, err = x509.NewTrust(store.ca.CertPEM, x509.ConfigFrom(o.Config.Security)); err != nil {
		return nil, err
	}
	if o.SharedConn {
		p, err := x509.NewFromPEM(pairs[0].cert, pairs[0].key, store.ca.CertPEM, x509.ConfigFrom(o.Config.Security))
		if err != nil {
			return nil, err
		}
		conn, err := connect(ctx, o, p, o.Prefix+"-shared", sh.natsLog)
		if err != nil {
			return nil, err
		}
		f.conns = append(f.conns, conn)
		sh.conn = conn
	}
	first := pairs[0]
	if err := f.build(ctx, o, sh, names, pairs); err != nil {
		return nil, err
	}
	if f.crl, err = f.startCRLWatch(o, first, store.ca.CertPEM); err != nil {
		return nil, err
	}
	startSeconds := time.Since(t0).Seconds()
	debug.FreeOSMemory()
	rssAfter, _ := procstat.SelfRSS()
	var ms1 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	f.heapBefore = int64(ms0.HeapInuse)
	f.report = Report{
		Count: o.Count, First: names[0], Last: names[len(names)-1], KeyType: string(o.KeyType), SharedConn: o.SharedConn,
		Audit: sh.auditDesc, CertsIssued: int(store.issued.Load()), CertsCached: int(store.cached.Load()),
		CertsSeconds: certsSeconds, StartSeconds: startSeconds,
		RSSBefore: rssBefore, RSSAfter: rssAfter, RSSPerNode: float64(rssAfter-rssBefore) / float64(o.Count),
		HeapPerNode:  float64(int64(ms1.HeapInuse)-int64(ms0.HeapInuse)) / float64(o.Count),
		StackPerNode: float64(int64(ms1.StackInuse)-int64(ms0.StackInuse)) / float64(o.Count),
		Goroutines:   runtime.NumGoroutine(),
	}
	ok = true
	return f, nil
}

func (o *Options) defaults() error {
	switch {
	case o.Config == nil:
		return errors.New("emulate: a node configuration is required")
	case o.Log == nil:
		return errors.New("emulate: a logger is required")
	case o.Count < 1:
		return fmt.Errorf("emulate: count must be at least 1, not %d", o.Count)
	case o.Offset < 0:
		return fmt.Errorf("emulate: offset must not be negative, not %d", o.Offset)
	case o.PKIDir == "":
		return errors.New("emulate: a PKI directory (ca.pem, ca.key) is required")
	case len(o.Config.Collectives) == 0:
		return errors.New("emulate: the configuration names no collectives")
	}
	switch o.Config.Connector {
	case "", "nats":
	default:
		return fmt.Errorf("emulate: connector %q is not supported; use nats", o.Config.Connector)
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.KeyType == "" {
		o.KeyType = x509.KeyECDSA
	}
	if o.Parallel <= 0 {
		o.Parallel = DefaultParallel
	}
	if o.ReplayMax <= 0 {
		o.ReplayMax = DefaultReplayMax
	}
	return nil
}

// sharedParts are what every node of the fleet shares: read-only
// configuration, policies, the parsed CA and compiled name rules, and
// the audit destination.
type sharedParts struct {
	trust     *x509.Trust
	base      server.FactStore
	classes   [Groups][]string
	authz     server.Authorizer
	auditor   audit.Auditor
	auditDesc string
	conn      connector.Connector // SharedConn only
	natsLog   *logrus.Entry       // the connections add their name to it
}

func (f *Fleet) shared(o Options) (*sharedParts, error) {
	cfg := o.Config
	sh := &sharedParts{auditDesc: "off", natsLog: o.Log.WithField("component", "nats")}
	if len(cfg.Facts.Files) > 0 || cfg.Facts.ClassesFile != "" {
		fs, err := facts.Load(cfg.Facts.Files, cfg.Facts.ClassesFile, o.Log.WithField("component", "facts"))
		if err != nil {
			return nil, fmt.Errorf("facts: %w", err)
		}
		sh.base = fs
	}
	sh.classes = groupClasses(sh.base)
	if cfg.Authorization.Enabled {
		if p := cfg.Authorization.Provider; p != "" && p != "action_policy" {
			return nil, fmt.Errorf("rpcauthprovider %q is not supported; use action_policy", p)
		}
		a, err := actionpolicy.New(actionpolicy.Config{
			Dir: cfg.Authorization.PolicyDir, AllowUnconfigured: cfg.Authorization.AllowUnconfigured,
			EnableDefault: cfg.Authorization.EnableDefault, DefaultName: cfg.Authorization.DefaultName,
		}, o.Log.WithField("component", "actionpolicy"))
		if err != nil {
			return nil, fmt.Errorf("actionpolicy: %w", err)
		}
		sh.authz = a
	}
	path := o.Audit
	if path == AuditStream {
		path = ""
		if !cfg.Audit.Enabled || cfg.Audit.LogFile == "" {
			return nil, errors.New("--audit stream needs rpcaudit = 1 and plugin.rpcaudit.logfile: the stream goes beside the file")
		}
	}
	switch {
	case path == AuditDiscard:
		sh.auditor, sh.auditDesc = encodeDiscard{}, "discard (records encoded, then dropped)"
		return sh, nil
	case path == "" && !cfg.Audit.Enabled:
		return sh, nil
	case path == "":
		if path = cfg.Audit.LogFile; path == "" {
			return nil, errors.New("rpcaudit = 1 needs plugin.rpcaudit.logfile (or use --audit)")
		}
	}
	a, err := audit.NewFile(audit.FileConfig{Path: path, Mode: cfg.Audit.Mode, Group: cfg.Audit.Group}, o.Log.WithField("component", "audit"))
	if err != nil {
		return nil, err
	}
	sh.auditor, sh.auditDesc = a, "file "+path+" (shared by all nodes)"
	f.auditor = a
	if o.streamed() {
		sh.auditDesc += " + stream (a spool per node, delivering over its broker connection)"
	}
	return sh, nil
}

// build creates and starts the nodes, o.Parallel at a time.
func (f *Fleet) build(ctx context.Context, o Options, sh *sharedParts, names []string, pairs []keyPair) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	nodes := make([]*server.Node, len(names))
	provs := make([]*x509.Provider, len(names))
	conns := make([]connector.Connector, len(names))
	streams := make([]*nodeStream, len(names))
	errs := make([]error, len(names))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(o.Parallel, len(names)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(names) {
					return
				}
				nodes[i], provs[i], conns[i], streams[i], errs[i] = newNode(ctx, o, sh, i, names[i], pairs[i])
				pairs[i] = keyPair{} // the provider holds its own copy
				if errs[i] != nil {
					cancel()
				}
			}
		}()
	}
	wg.Wait()
	for i := range nodes {
		if nodes[i] != nil {
			f.nodes = append(f.nodes, nodes[i])
			f.provs = append(f.provs, provs[i])
		}
		if conns[i] != nil {
			f.conns = append(f.conns, conns[i])
		}
		if streams[i] != nil {
			f.streams = append(f.streams, streams[i])
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return ctx.Err()
}

// newNode builds, connects and starts node i.
func newNode(ctx context.Context, o Options, sh *sharedParts, i int, name string, kp keyPair) (
	_ *server.Node, _ *x509.Provider, _ connector.Connector, _ *nodeStream, err error) {
	cfg := o.Config
	p, err := x509.NewFromTrust(kp.cert, kp.key, sh.trust)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("%s: security: %w", name, err)
	}
	log := o.Log.WithField("node", name)
	conn := sh.conn
	var own connector.Connector
	if conn == nil {
		if own, err = connect(ctx, o, p, name, sh.natsLog); err != nil {
			return nil, nil, nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		conn = own
	}
	auditor := sh.auditor
	var stream *nodeStream
	if o.streamed() {
		if stream, err = openNodeStream(o, p, own, name, log); err != nil {
			if own != nil {
				_ = own.Close()
			}
			return nil, nil, nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		auditor = audit.Multi(sh.auditor, stream.spool) // file, then spool: tuttid's order
	}
	var rc *replay.Cache
	if cfg.Security.ReplayCache {
		rc = replay.New(o.ReplayMax)
	}
	var configItem func(string) (string, bool)
	configFile := ""
	if o.File != nil {
		configItem, configFile = o.File.Get, o.File.Path
	}
	n, err := server.New(server.Options{
		Settings: server.Settings{
			Identity: name, Collectives: cfg.Collectives, MaxTTL: cfg.Security.MaxTTL, MaxMessageSize: cfg.MaxMessageSize,
			AnyReplyTo: !cfg.Security.StrictReplyTo, AuditRequired: cfg.Audit.Required, SoftShutdown: cfg.SoftShutdownTimeout,
			Workers: cfg.Workers, QueueSize: cfg.QueueSize,
			AgentConcurrency: cfg.AgentConcurrency, RateLimit: cfg.RateLimit, RateBurst: cfg.RateBurst,
		},
		Connector: conn, Signer: p, Verifier: p,
		Facts:      &nodeFacts{index: o.Offset + i + 1, identity: name, base: sh.base, classes: sh.classes[(o.Offset+i+1)%Groups]},
		Authorizer: sh.authz, Auditor: auditor, Replay: rc, ConfigItem: configItem, ConfigFile: configFile, Log: log,
	})
	if err == nil {
		err = n.Start()
	}
	if err != nil {
		if own != nil {
			_ = own.Close()
		}
		if stream != nil {
			_ = stream.spool.Close()
			_ = stream.pub.Close()
		}
		return nil, nil, nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return n, p, own, stream, nil
}

// connect opens one broker connection named name presenting p's
// certificate, with the connector the node configuration chooses.
func connect(ctx context.Context, o Options, p *x509.Provider, name string, log *logrus.Entry) (connector.Connector, error) {
	c := dial.ConfigFrom(&o.Config.Common)
	c.Name = name
	c.InboxPrefix = x509.InboxPrefix(p.Name()) // where its audit records' acknowledgements arrive
	return dial.Open(ctx, c, p, log)
}

// Memory is what the fleet holds at one moment.
type Memory struct {
	RSS         int64   `json:"rss_bytes"`
	RSSPerNode  float64 `json:"rss_per_node_bytes"`
	HeapPerNode float64 `json:"heap_per_node_bytes"`
	Goroutines  int     `json:"goroutines"`
	// AuditSpool is the sum of the nodes' spool counters (AuditStream).
	AuditSpool *AuditSpool `json:"audit_spool,omitempty"`
}

// Settle collects garbage, returns free memory to the OS and reports
// what is left: after a burst of requests, the memory the nodes keep
// (replay entries, caches, grown buffers) rather than the garbage and
// goroutine stacks of the burst. Per-node figures are relative to the
// RSS before the fleet was built.
func (f *Fleet) Settle() Memory {
	debug.FreeOSMemory()
	rss, _ := procstat.SelfRSS()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	n := float64(max(1, f.report.Count))
	return Memory{RSS: rss, RSSPerNode: float64(rss-f.report.RSSBefore) / n,
		HeapPerNode: float64(int64(ms.HeapInuse)-f.heapBefore) / n, Goroutines: runtime.NumGoroutine(), AuditSpool: f.AuditSpool()}
}

// Report describes the fleet as it started.
func (f *Fleet) Report() Report { return f.report }

// Nodes are the running nodes, in index order.
func (f *Fleet) Nodes() []*server.Node { return f.nodes }

// Stats adds up every node's request counters.
func (f *Fleet) Stats() (total, replies uint64) {
	for _, n := range f.nodes {
		s := n.Stats()
		total += s.Total
		replies += s.Replies
	}
	return total, replies
}

// Shutdown stops every node (in parallel, each waiting for its in-flight
// requests up to its soft shutdown timeout or ctx), lets the audit
// spools deliver what they hold (until ctx ends), then closes the spools
// and the connections and the audit file. It is idempotent.
func (f *Fleet) Shutdown(ctx context.Context) {
	f.stop.Do(func() {
		f.crl.close()
		var wg sync.WaitGroup
		sem := make(chan struct{}, 256)
		for _, n := range f.nodes {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				n.Shutdown(ctx)
			}()
		}
		wg.Wait()
		f.closeStreams(ctx)
		for _, c := range f.conns {
			_ = c.Close()
		}
		if f.auditor != nil {
			_ = f.auditor.Close()
		}
	})
}
