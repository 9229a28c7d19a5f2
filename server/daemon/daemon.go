// Package daemon wires a node (tuttid) and the embedded broker (tuttid
// broker) from their configuration files, and runs them until their
// context ends: SIGHUP reloads, cancellation is a clean shutdown.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/aaa/actionpolicy"
	"github.com/tuttifleet/tutti/aaa/audit"
	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/dial"
	"github.com/tuttifleet/tutti/security/replay"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server"
	"github.com/tuttifleet/tutti/server/facts"
	"github.com/tuttifleet/tutti/server/filter"
	"github.com/tuttifleet/tutti/server/guard"
)

// Node is a running node with everything it was built from.
type Node struct {
	*server.Node
	Config     *config.Server
	File       *config.File
	Provider   *x509.Provider
	Conn       connector.Connector
	Facts      *facts.Store
	Authorizer *actionpolicy.Authorizer
	Auditor    audit.Auditor
	Log        *logrus.Entry
	// Registry holds the node's Prometheus metrics; nil when metrics are
	// off (plugin.choria.stats_port / plugin.tutti.metrics_port unset).
	Registry *prometheus.Registry
	metrics  *daemonMetrics
	// stream is the spool to the broker's audit stream
	// (plugin.tutti.audit.stream); nil when off.
	stream *auditStream
	// crl watches the broker's CRL bucket; nil when off.
	crl       *crlWatch
	stopWatch context.CancelFunc
	// background ends the facts watcher and the registration loop.
	background context.Context
}

// BuildNode creates and starts a node from its configuration.
func BuildNode(ctx context.Context, cfg *config.Server, file *config.File, log *logrus.Entry) (*Node, error) {
	var p *x509.Provider
	if !cfg.SSL.Enabled {
		var err error
		if p, err = x509.New(x509.ConfigFrom(cfg.Security)); err != nil {
			return nil, fmt.Errorf("security: %w", err)
		}
		if err := checkOwnReplies(p, cfg.Identity); err != nil {
			return nil, err
		}
	}
	fs, err := facts.Load(cfg.Facts.Files, cfg.Facts.ClassesFile, log.WithField("component", "facts"))
	if err != nil {
		return nil, fmt.Errorf("facts: %w", err)
	}
	d := &Node{Config: cfg, File: file, Provider: p, Facts: fs, Log: log}
	if err := d.build(ctx, file); err != nil {
		d.close()
		return nil, err
	}
	// facts and classes are reloaded when their files change; started
	// last, so a node that fails to build leaves nothing running
	d.background, d.stopWatch = context.WithCancel(context.Background())
	go fs.Watch(d.background, 5*time.Second)
	d.startRegistration()
	return d, nil
}

// build makes the authorizer, the auditor, the connection and the node,
// and starts the node. On error the caller closes what was made.
func (d *Node) build(ctx context.Context, file *config.File) error {
	cfg, log := d.Config, d.Log
	var authz server.Authorizer
	var err error
	opts := server.Options{Settings: settings(cfg), Facts: d.Facts, ConfigItem: file.Get, ConfigFile: file.Path, Log: log}
	if cfg.SSL.Enabled {
		if opts.Verifier, opts.MCollective, err = mcoMode(cfg, log); err != nil {
			return err
		}
	} else {
		opts.Signer, opts.Verifier = d.Provider, d.Provider
	}
	if cfg.Authorization.Enabled {
		if d.Authorizer, err = newAuthorizer(cfg, log); err != nil {
			return err
		}
		authz = d.Authorizer
	}
	// local outputs first: a node whose audit cannot work fails before
	// it connects
	if cfg.Audit.Enabled && cfg.Audit.Stream {
		if d.stream, err = openAuditStream(cfg, log); err != nil {
			return err
		}
	}
	if cfg.Audit.Enabled {
		if d.Auditor, err = d.newAuditor(cfg); err != nil {
			return err
		}
	}
	// the one broker connection: requests and replies, and with NATS the
	// audit records to the stream and the CRL watch, whose answers arrive
	// under the certificate's private inbox prefix (the broker allows no
	// other)
	dc := dial.ConfigFrom(&cfg.Common)
	if d.Provider != nil { // nil in MCollective's ssl mode (STOMP)
		dc.InboxPrefix = x509.InboxPrefix(d.Provider.Name())
	}
	if d.Conn, err = dial.Open(ctx, dc, d.identity(), log); err != nil {
		return err
	}
	if d.stream != nil {
		if err := d.stream.attach(cfg, d.Conn, d.Provider); err != nil {
			return err
		}
	}
	if d.crl, err = startNodeCRLWatch(cfg, d.Conn, log, d.Provider.ApplyCRL); err != nil {
		return err
	}
	d.crl.waitSynced(ctx, log)
	var rc *replay.Cache
	if cfg.Security.ReplayCache {
		rc = replay.New(0)
	}
	opts.Authorizer, opts.Auditor, opts.Replay, opts.Extra = authz, d.Auditor, rc, externalAgents(cfg, log)
	opts.Connector = d.Conn
	d.Node, err = server.New(opts)
	if err != nil {
		return err
	}
	if cfg.StatsPort != 0 {
		d.Registry = d.registerNodeMetrics()
	}
	return d.Node.Start()
}

// startRegistration publishes registration messages when registration
// is configured (registration = <plugin>, registerinterval > 0).
func (d *Node) startRegistration() {
	cfg := d.Config
	if len(cfg.Registration) == 0 || cfg.RegisterInterval <= 0 {
		return
	}
	if slices.Contains(cfg.Registration, "file_content") {
		d.Log.Warn("registration plugin file_content is not supported; publishing tutti's registration data instead")
	}
	go d.Node.RunRegistration(d.background, server.RegistrationOptions{
		Collective: cfg.RegistrationCollective, Interval: cfg.RegisterInterval, Splay: cfg.RegistrationSplay,
		OnPublish: d.metrics.registered,
	})
}

func newAuthorizer(cfg *config.Server, log *logrus.Entry) (*actionpolicy.Authorizer, error) {
	if p := cfg.Authorization.Provider; p != "" && p != "action_policy" {
		return nil, fmt.Errorf("rpcauthprovider %q is not supported; use action_policy", p)
	}
	a, err := actionpolicy.New(actionpolicy.Config{
		Dir: cfg.Authorization.PolicyDir, AllowUnconfigured: cfg.Authorization.AllowUnconfigured,
		EnableDefault: cfg.Authorization.EnableDefault, DefaultName: cfg.Authorization.DefaultName,
	}, log.WithField("component", "actionpolicy"))
	if err != nil {
		return nil, fmt.Errorf("actionpolicy: %w", err)
	}
	return a, nil
}

// newAuditor opens the audit outputs and, with plugin.tutti.audit.chain,
// puts the tamper-evident chain in front of them.
func (d *Node) newAuditor(cfg *config.Server) (audit.Auditor, error) {
	sinks, err := d.newAuditSinks(cfg)
	if err != nil || !cfg.Audit.Chain {
		return sinks, err
	}
	c, err := audit.NewChain(chainConfig(cfg, d.Provider), sinks, d.Log.WithField("component", "audit"))
	if err != nil {
		_ = sinks.Close()
		return nil, fmt.Errorf("audit: %w", err)
	}
	return c, nil
}

// chainConfig is the node's chain: its identity is the writer, its
// certificate signs the checkpoints, the audit file is where it goes on.
func chainConfig(cfg *config.Server, p *x509.Provider) audit.ChainConfig {
	cc := audit.ChainConfig{
		Writer: cfg.Identity, Signer: p, Interval: cfg.Audit.CheckpointInterval, Records: cfg.Audit.CheckpointRecords,
		TailFile: cfg.Audit.LogFile, StateFile: cfg.Audit.ChainState,
	}
	if cc.Interval == 0 {
		cc.Interval = -1
	}
	if cc.Records == 0 {
		cc.Records = -1
	}
	return cc
}

// newAuditSinks opens the audit outputs: the file and, with the audit
// stream on, the spool after it; a failure of either is the record's
// failure (the node fails closed unless plugin.tutti.audit.required =
// false).
func (d *Node) newAuditSinks(cfg *config.Server) (audit.Auditor, error) {
	if cfg.Audit.LogFile == "" {
		return nil, errors.New("rpcaudit = 1 needs plugin.rpcaudit.logfile")
	}
	a, err := audit.NewFile(audit.FileConfig{Path: cfg.Audit.LogFile, Mode: cfg.Audit.Mode, Group: cfg.Audit.Group},
		d.Log.WithField("component", "audit"))
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if d.stream != nil {
		return audit.Multi(a, d.stream.auditor()), nil
	}
	return a, nil
}

func settings(cfg *config.Server) server.Settings {
	return server.Settings{
		Identity: cfg.Identity, Collectives: cfg.Collectives, MaxTTL: cfg.Security.MaxTTL,
		MaxMessageSize: cfg.MaxMessageSize, AnyReplyTo: !cfg.Security.StrictReplyTo,
		AuditRequired: cfg.Audit.Required, SoftShutdown: cfg.SoftShutdownTimeout,
		Workers: cfg.Workers, QueueSize: cfg.QueueSize,
		AgentConcurrency: cfg.AgentConcurrency, RateLimit: cfg.RateLimit, RateBurst: cfg.RateBurst,
		FilterLimits: filter.Limits{
			MaxEntries: cfg.Filter.MaxEntries, MaxRegexes: cfg.Filter.MaxRegexes, MaxRegexLength: cfg.Filter.MaxRegexLength,
			MaxExpressions: cfg.Filter.MaxExpressions, MaxExpressionLength: cfg.Filter.MaxExpressionLength,
			MaxExpressionDepth: cfg.Filter.MaxExpressionDepth,
		},
		Guard: guardPolicy(cfg.Guard),
	}
}

// guardPolicy is the node's blast-radius guard from its configuration.
func guardPolicy(g config.Guard) guard.Policy {
	p := guard.Policy{RequireFilter: g.RequireFilter, MaxTargets: g.MaxTargets, Selectors: g.Selectors}
	for _, r := range g.Rules {
		p.Rules = append(p.Rules, guard.Rule{Agent: r.Agent, Action: r.Action, MaxTargets: r.MaxTargets})
	}
	return p
}

// Shutdown stops the node, waiting for in-flight requests, and closes
// its connection and audit file.
func (d *Node) Shutdown(ctx context.Context) {
	if d.Node != nil {
		d.Node.Shutdown(ctx)
	}
	d.close()
}

func (d *Node) close() {
	if d.stopWatch != nil {
		d.stopWatch()
	}
	// the spool and the CRL watch first: they use the connection
	if d.Auditor != nil {
		_ = d.Auditor.Close()
	}
	if d.stream != nil {
		d.stream.close()
	}
	d.crl.close()
	if d.Conn != nil {
		_ = d.Conn.Close()
	}
}

// checkOwnReplies signs a message as a reply and verifies it as a client
// would: a node whose identity is not its certificate's name, or whose
// certificate does not chain to its CA, would start and answer every
// request with a reply no client accepts.
func checkOwnReplies(p *x509.Provider, identity string) error {
	msg := []byte("tutti self-check " + identity)
	sig, err := p.Sign(msg)
	if err != nil {
		return fmt.Errorf("security: sign: %w", err)
	}
	if err := p.VerifyReply(msg, sig, p.CertificatePEM(), identity); err != nil {
		return fmt.Errorf("security: clients would refuse every reply of this node (identity %q, certificate %q): %w", identity, p.Name(), err)
	}
	return nil
}
