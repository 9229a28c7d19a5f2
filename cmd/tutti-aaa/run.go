package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/tuttifleet/tutti/aaa/signer"
	"github.com/tuttifleet/tutti/aaa/sso"
	"github.com/tuttifleet/tutti/aaa/sso/ssoconfig"
	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/server/supervise"
)

func newRunCmd() *cobra.Command {
	var configFile string
	var insecureHTTP bool
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the login and signing service",
		Long: `Run serves POST /choria/v1/login and POST /choria/v1/sign (aaasvc compatible) over HTTPS,
/healthz, and Prometheus metrics on monitor_port. SIGHUP reloads the privileged certificate
and key, the TLS certificate and the users file, and reopens the audit file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runService(cmd, configFile, insecureHTTP)
		},
	}
	cmd.Flags().StringVar(&configFile, "config", "", "service configuration (YAML, or aaasvc JSON)")
	cmd.Flags().BoolVar(&insecureHTTP, "insecure-http", false, "serve plain HTTP instead of HTTPS (tests only)")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

func runService(cmd *cobra.Command, configFile string, insecureHTTP bool) error {
	cfg, warnings, err := loadServiceConfig(configFile, insecureHTTP)
	if err != nil {
		return err
	}
	log, closeLog, err := newLogger(cfg, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	defer closeLog()
	for _, w := range warnings {
		log.Warn(w)
	}
	svc, err := signer.New(cfg, signer.Options{Log: log, NewSSO: newSSO})
	if err != nil {
		return err
	}
	signer.ApplyGCDefault()
	sup := supervise.New(log)
	defer sup.Close()
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	go superviseService(ctx, svc, sup)
	return svc.Run(ctx)
}

// superviseService tells systemd when the service listens (READY=1),
// then runs the supervise loop: reload on SIGHUP, watchdog keep-alives,
// STOPPING=1 at the end.
func superviseService(ctx context.Context, svc *signer.Service, sup *supervise.Supervisor) {
	select {
	case <-ctx.Done():
		return
	case <-svc.Ready():
	}
	sup.Run(ctx, "serving "+svc.URL(), func() string {
		_ = svc.Reload() // logs its own outcome
		return "serving " + svc.URL()
	})
}

// loadServiceConfig reads the YAML config and resolves choria_config into
// the privileged certificate settings.
func loadServiceConfig(path string, insecureHTTP bool) (*signer.Config, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", signer.ErrConfig, err)
	}
	// --insecure-http must be known before validation.
	cfg, warnings, err := signer.ParseConfigWith(data, func(c *signer.Config) error {
		c.InsecureHTTP = c.InsecureHTTP || insecureHTTP
		return resolveChoriaConfig(c)
	})
	if err != nil {
		return nil, warnings, err
	}
	return cfg, warnings, nil
}

// resolveChoriaConfig fills the privileged certificate, key and CA from
// the plugin.security.file.* keys of a Choria-style config.
func resolveChoriaConfig(c *signer.Config) error {
	if c.ChoriaConfig == "" || c.PrivilegedCertificate != "" {
		return nil
	}
	f, err := config.ParseFile(c.ChoriaConfig)
	if err != nil {
		return fmt.Errorf("%w: choria_config: %w", signer.ErrConfig, err)
	}
	get := func(key string) string {
		v, _ := f.Get(key)
		if v != "" && !filepath.IsAbs(v) {
			v = filepath.Join(f.Dir, v)
		}
		return v
	}
	c.PrivilegedCertificate = get("plugin.security.file.certificate")
	c.PrivilegedKey = get("plugin.security.file.key")
	c.PrivilegedCA = get("plugin.security.file.ca")
	if c.PrivilegedCertificate == "" || c.PrivilegedKey == "" || c.PrivilegedCA == "" {
		return fmt.Errorf("%w: choria_config %s must set plugin.security.file.certificate, .key and .ca",
			signer.ErrConfig, c.ChoriaConfig)
	}
	return nil
}

// newLogger logs to logfile (JSON) or to stderr (text) at loglevel.
func newLogger(cfg *signer.Config, stderr io.Writer) (*logrus.Entry, func(), error) {
	l := logrus.New()
	l.SetOutput(stderr)
	if os.Getenv("JOURNAL_STREAM") != "" {
		// under systemd: the journal adds the timestamp
		l.SetFormatter(&logrus.TextFormatter{DisableTimestamp: true, DisableColors: true})
	}
	closeFn := func() {}
	if cfg.LogFile != "" {
		f, err := os.OpenFile(cfg.LogFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return nil, nil, fmt.Errorf("logfile: %w", err)
		}
		l.SetOutput(f)
		l.SetFormatter(&logrus.JSONFormatter{})
		closeFn = func() { _ = f.Close() }
	}
	level := logrus.InfoLevel
	if cfg.LogLevel != "" {
		var err error
		if level, err = logrus.ParseLevel(cfg.LogLevel); err != nil {
			closeFn()
			return nil, nil, errors.Join(fmt.Errorf("%w: loglevel", signer.ErrConfig), err)
		}
	}
	l.SetLevel(level)
	return l.WithField("component", "tutti-aaa"), closeFn, nil
}

// newSSO runs aaa/sso as tutti-aaa's single sign-on.
func newSSO(cfg ssoconfig.Config, o signer.SSOOptions) (signer.SSO, error) {
	a, err := sso.New(cfg, sso.Options{Key: o.Key, Now: o.Now, Log: o.Log, Metrics: o.Metrics})
	if err != nil {
		return nil, err
	}
	return a, nil
}
