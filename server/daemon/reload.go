package daemon

import (
	"errors"
	"fmt"
	"reflect"
	"slices"

	"github.com/tuttifleet/tutti/aaa/actionpolicy"
	"github.com/tuttifleet/tutti/aaa/audit"
	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/security/x509"
)

// ErrReloadRefused wraps every reason a new configuration was not taken:
// the old one stays in force, entirely.
var ErrReloadRefused = errors.New("new configuration refused, keeping the old one")

// Reload re-reads the configuration file, then the certificates, facts,
// classes and policies, rescans the external agents directories (new
// agents are subscribed, removed ones unsubscribed, changed DDLs and
// programs replace the old ones), and reopens the audit file. Requests in flight
// keep running: the subscriptions stay, and settings are swapped as one
// snapshot.
//
// Reload is all or nothing where it can be: an invalid file, or a new
// policy or audit setting that cannot be built, refuses the whole reload
// (ErrReloadRefused) before anything changes. Settings that need a
// restart (identity, collectives, broker connection, certificate and
// fact file paths, metrics listener) keep their old values with a
// warning. Re-reading files whose contents went bad afterwards (a
// broken certificate or policy file) keeps that part's previous state
// and is reported in the returned error.
func (d *Node) Reload() error {
	cfg, file, err := config.LoadServer(d.File.Path)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrReloadRefused, err)
	}
	for _, w := range file.Warnings() {
		d.Log.Warn(w.String())
	}
	d.keepRestartOnly(cfg)
	authz, authzChanged, err := d.reloadedAuthorizer(cfg)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrReloadRefused, err)
	}
	auditor, auditChanged, err := d.reloadedAuditor(cfg)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrReloadRefused, err)
	}

	var errs []error
	if d.Provider != nil { // nil in ssl mode: caller keys are looked up per request
		if err := d.Provider.Reload(); err != nil {
			errs = append(errs, fmt.Errorf("certificates (previous ones kept): %w", err))
		}
	}
	if err := d.Facts.Reload(); err != nil {
		errs = append(errs, fmt.Errorf("facts (previous ones kept): %w", err))
	}
	// agents that do not load are logged and left out, as at start
	if err := d.Node.SetExtraAgents(externalAgents(cfg, d.Log)); err != nil {
		errs = append(errs, fmt.Errorf("external agents: %w", err))
	}
	if authzChanged {
		d.Authorizer = authz
		if authz == nil {
			d.Node.SetAuthorizer(nil)
		} else {
			d.Node.SetAuthorizer(authz)
		}
	} else if d.Authorizer != nil {
		if err := d.Authorizer.Reload(); err != nil {
			errs = append(errs, fmt.Errorf("policies: %w", err))
		}
	}
	if auditChanged {
		old := d.Auditor
		if c, ok := old.(*audit.Chain); ok && cfg.Audit.Chain && auditor != nil {
			old, auditor = c.Swap(auditor), c
		}
		d.Auditor = auditor
		d.Node.SetAuditor(auditor)
		if old != nil {
			_ = old.Close() // a request still writing to it gets an error and is counted
		}
	} else if d.Auditor != nil {
		if err := d.Auditor.Reopen(); err != nil {
			errs = append(errs, fmt.Errorf("audit: %w", err))
		}
	}
	d.Node.UpdateSettings(settings(cfg))
	d.Config, d.File = cfg, file
	return errors.Join(errs...)
}

// keepRestartOnly puts back the settings a reload cannot change, with a
// warning for each that was changed in the file.
func (d *Node) keepRestartOnly(cfg *config.Server) {
	old := d.Config
	warn := func(what string, changed bool) {
		if changed {
			d.Log.Warnf("reload: %s changed in the file; this needs a restart, keeping the old value until then", what)
		}
	}
	warn("identity", cfg.Identity != old.Identity)
	warn("collectives", !slices.Equal(cfg.Collectives, old.Collectives))
	warn("broker connection (connector, middleware hosts, credentials)", cfg.Connector != old.Connector || !reflect.DeepEqual(cfg.NATS, old.NATS))
	warn("security provider settings (certificate, key, CA, CRL paths and rules)", !reflect.DeepEqual(x509.ConfigFrom(cfg.Security), x509.ConfigFrom(old.Security)))
	warn("fact and classes file paths", !slices.Equal(cfg.Facts.Files, old.Facts.Files) || cfg.Facts.ClassesFile != old.Facts.ClassesFile)
	warn("metrics listener", cfg.StatsPort != old.StatsPort || cfg.StatsAddress != old.StatsAddress)
	warn("registration settings", !slices.Equal(cfg.Registration, old.Registration) || cfg.RegisterInterval != old.RegisterInterval ||
		cfg.RegistrationCollective != old.RegistrationCollective)
	cfg.Identity, cfg.Collectives, cfg.MainCollective = old.Identity, old.Collectives, old.MainCollective
	warn("MCollective ssl plugin settings (securityprovider, plugin.ssl_*)", cfg.SSL != old.SSL)
	cfg.Connector, cfg.NATS, cfg.ActiveMQ, cfg.Security, cfg.SSL = old.Connector, old.NATS, old.ActiveMQ, old.Security, old.SSL
	cfg.Facts = old.Facts
	cfg.StatsPort, cfg.StatsAddress = old.StatsPort, old.StatsAddress
	cfg.Registration, cfg.RegisterInterval, cfg.RegistrationSplay = old.Registration, old.RegisterInterval, old.RegistrationSplay
	cfg.RegistrationCollective = old.RegistrationCollective
	warn("audit stream settings (plugin.tutti.audit.stream, subject, spool_dir, spool_max_bytes, spool_fsync, spool_fsync_interval)",
		cfg.Audit.Stream != old.Audit.Stream || cfg.Audit.Subject != old.Audit.Subject ||
			cfg.Audit.SpoolDir != old.Audit.SpoolDir || cfg.Audit.SpoolMaxBytes != old.Audit.SpoolMaxBytes ||
			cfg.Audit.SpoolFsyncDelay() != old.Audit.SpoolFsyncDelay())
	cfg.Audit.Stream, cfg.Audit.Subject = old.Audit.Stream, old.Audit.Subject
	cfg.Audit.SpoolDir, cfg.Audit.SpoolMaxBytes = old.Audit.SpoolDir, old.Audit.SpoolMaxBytes
	cfg.Audit.SpoolFsync, cfg.Audit.SpoolFsyncInterval = old.Audit.SpoolFsync, old.Audit.SpoolFsyncInterval
}

// reloadedAuthorizer builds a new authorizer when the authorization
// settings changed (nil when turned off); changed is false when the old
// one stays and only needs its files re-read.
func (d *Node) reloadedAuthorizer(cfg *config.Server) (a *actionpolicy.Authorizer, changed bool, err error) {
	if reflect.DeepEqual(cfg.Authorization, d.Config.Authorization) {
		return nil, false, nil
	}
	if !cfg.Authorization.Enabled {
		d.Log.Warn("reload: rpcauthorization is now off; every request is allowed")
		return nil, true, nil
	}
	a, err = newAuthorizer(cfg, d.Log)
	if err != nil {
		return nil, false, err
	}
	return a, true, nil
}

// reloadedAuditor opens a new audit file when the audit settings changed.
func (d *Node) reloadedAuditor(cfg *config.Server) (a audit.Auditor, changed bool, err error) {
	if reflect.DeepEqual(cfg.Audit, d.Config.Audit) {
		return nil, false, nil
	}
	if !cfg.Audit.Enabled {
		d.Log.Warn("reload: rpcaudit is now off; requests are no longer audited")
		return nil, true, nil
	}
	if _, ok := d.Auditor.(*audit.Chain); ok && cfg.Audit.Chain {
		// the running chain goes on in front of the new outputs
		a, err = d.newAuditSinks(cfg)
	} else {
		a, err = d.newAuditor(cfg)
	}
	if err != nil {
		return nil, false, err
	}
	return a, true, nil
}
