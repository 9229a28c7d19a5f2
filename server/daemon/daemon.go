// Package daemon wires a node (tuttid) and the embedded broker (tuttid
// broker) from their configuration files, and runs them until their
// context ends: SIGHUP reloads, cancellation is a clean shutdown.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/aaa/actionpolicy"
	"github.com/tuttifleet/tutti/aaa/audit"
	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/security/replay"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server"
	"github.com/tuttifleet/tutti/server/facts"
)

// NewLogger builds the logger described by the logging settings. The
// returned closer closes a log file (a no-op for stdout/stderr).
func NewLogger(c config.Logging) (*logrus.Logger, io.Closer, error) {
	l := logrus.New()
	lvl, err := logrus.ParseLevel(orDefault(c.Level, "info"))
	if err != nil {
		return nil, nil, fmt.Errorf("loglevel: %w", err)
	}
	l.SetLevel(lvl)
	var closer io.Closer = io.NopCloser(nil)
	switch f := orDefault(c.File, "stdout"); f {
	case "stdout":
		l.SetOutput(os.Stdout)
	case "stderr":
		l.SetOutput(os.Stderr)
	case "discard":
		l.SetOutput(io.Discard)
	default:
		fh, err := os.OpenFile(f, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o640)
		if err != nil {
			return nil, nil, fmt.Errorf("open log file: %w", err)
		}
		l.SetOutput(fh)
		closer = fh
	}
	if c.Format == "json" || (c.Format == "" && c.File != "" && c.File != "stdout" && c.File != "stderr" && c.File != "discard") {
		l.SetFormatter(&logrus.JSONFormatter{})
	} else {
		l.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, DisableColors: os.Getenv("JOURNAL_STREAM") != ""})
	}
	return l, closer, nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// SecurityConfig maps the config section onto the x509 provider's.
func SecurityConfig(s config.Security) x509.Config {
	return x509.Config{
		CertFile: s.CertFile, KeyFile: s.KeyFile, CAFile: s.CAFile, CRLFile: s.CRLFile,
		CertnameAllow: s.CertnameAllow, Privileged: s.Privileged, PrivilegedCallerKinds: s.PrivilegedCallerKinds,
		AllowLegacyCerts: s.AllowLegacyCerts,
	}
}

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
	stopWatch  context.CancelFunc
}

// BuildNode creates and starts a node from its configuration.
func BuildNode(ctx context.Context, cfg *config.Server, file *config.File, log *logrus.Entry) (*Node, error) {
	p, err := x509.New(SecurityConfig(cfg.Security))
	if err != nil {
		return nil, fmt.Errorf("security: %w", err)
	}
	fs, err := facts.Load(cfg.Facts.Files, cfg.Facts.ClassesFile, log.WithField("component", "facts"))
	if err != nil {
		return nil, fmt.Errorf("facts: %w", err)
	}
	d := &Node{Config: cfg, File: file, Provider: p, Facts: fs, Log: log}
	// facts and classes are reloaded when their files change
	wctx, cancel := context.WithCancel(context.Background())
	d.stopWatch = cancel
	go fs.Watch(wctx, 5*time.Second)
	var authz server.Authorizer
	if cfg.Authorization.Enabled {
		if d.Authorizer, err = newAuthorizer(cfg, log); err != nil {
			return nil, err
		}
		authz = d.Authorizer
	}
	if cfg.Audit.Enabled {
		if d.Auditor, err = newAuditor(cfg, log); err != nil {
			return nil, err
		}
	}
	var rc *replay.Cache
	if cfg.Security.ReplayCache {
		rc = replay.New(0)
	}
	if d.Conn, err = Connect(ctx, &cfg.Common, p, log); err != nil {
		d.close()
		return nil, err
	}
	d.Node, err = server.New(server.Options{
		Settings: settings(cfg), Connector: d.Conn, Signer: p, Verifier: p, Facts: fs, Authorizer: authz,
		Auditor: d.Auditor, Replay: rc, ConfigItem: file.Get, ConfigFile: file.Path, Log: log,
		Extra: externalAgents(cfg, log),
	})
	if err != nil {
		d.close()
		return nil, err
	}
	if err := d.Node.Start(); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
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

func newAuditor(cfg *config.Server, log *logrus.Entry) (audit.Auditor, error) {
	if cfg.Audit.LogFile == "" {
		return nil, errors.New("rpcaudit = 1 needs plugin.rpcaudit.logfile")
	}
	a, err := audit.NewFile(audit.FileConfig{Path: cfg.Audit.LogFile, Mode: cfg.Audit.Mode, Group: cfg.Audit.Group},
		log.WithField("component", "audit"))
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return a, nil
}

func settings(cfg *config.Server) server.Settings {
	return server.Settings{
		Identity: cfg.Identity, Collectives: cfg.Collectives, MaxTTL: cfg.Security.MaxTTL,
		MaxMessageSize: cfg.MaxMessageSize, StrictReplyTo: cfg.Security.StrictReplyTo,
		AuditRequired: cfg.Audit.Required, SoftShutdown: cfg.SoftShutdownTimeout,
	}
}

// Reload re-reads the configuration file, certificates, facts, classes
// and policies, and reopens the audit file. An invalid new configuration
// is refused and the old one stays in force.
func (d *Node) Reload() error {
	cfg, file, err := config.LoadServer(d.File.Path)
	if err != nil {
		return fmt.Errorf("new configuration refused, keeping the old one: %w", err)
	}
	if cfg.Identity != d.Config.Identity || strings.Join(cfg.Collectives, ",") != strings.Join(d.Config.Collectives, ",") {
		d.Log.Warn("identity and collectives changes need a restart; keeping the old ones")
		cfg.Identity, cfg.Collectives = d.Config.Identity, d.Config.Collectives
	}
	var errs []error
	if err := d.Provider.Reload(); err != nil {
		errs = append(errs, fmt.Errorf("certificates: %w", err))
	}
	if err := d.Facts.Reload(); err != nil {
		errs = append(errs, fmt.Errorf("facts: %w", err))
	}
	if d.Authorizer != nil {
		if err := d.Authorizer.Reload(); err != nil {
			errs = append(errs, fmt.Errorf("policies: %w", err))
		}
	}
	if d.Auditor != nil {
		if err := d.Auditor.Reopen(); err != nil {
			errs = append(errs, fmt.Errorf("audit: %w", err))
		}
	}
	d.Node.UpdateSettings(settings(cfg))
	d.Config, d.File = cfg, file
	return errors.Join(errs...)
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
	if d.Conn != nil {
		_ = d.Conn.Close()
	}
	if d.Auditor != nil {
		_ = d.Auditor.Close()
	}
}
