package signer

import (
	"context"
	"crypto"
	"crypto/tls"
	stdx509 "crypto/x509"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/aaa/audit"
	"github.com/tuttifleet/tutti/aaa/login"
	"github.com/tuttifleet/tutti/aaa/sso/ssoconfig"
	"github.com/tuttifleet/tutti/security/x509"
)

// shutdownGrace bounds the graceful shutdown of the HTTP servers.
const shutdownGrace = 5 * time.Second

// Options are the service's run-time dependencies.
type Options struct {
	Log *logrus.Entry
	// Now is the clock for tokens and freshness; nil means time.Now.
	Now func() time.Time
	// NewSSO builds the single sign-on login (aaa/sso: sso.NewService)
	// when oidc_authenticator is configured. It is given, not imported,
	// so programs that run tutti-aaa without SSO (the tutti client's
	// demo) link no OpenID Connect client; nil refuses such a config.
	NewSSO func(ssoconfig.Config, SSOOptions) (SSO, error)
}

// SSO is the single sign-on login the service serves (aaa/sso's
// Authenticator).
type SSO interface {
	// Register adds the SSO endpoints to the API's mux.
	Register(mux *http.ServeMux)
	// Reload forgets the discovered provider (SIGHUP).
	Reload()
	// Close stops the flows in progress.
	Close()
}

// SSOOptions are what the service gives NewSSO.
type SSOOptions struct {
	// Key signs the tokens (the userlist signing key).
	Key     crypto.Signer
	Now     func() time.Time
	Log     *logrus.Entry
	Metrics *ssoconfig.Metrics
}

// Service is tutti-aaa: one HTTPS API server and an optional monitor
// server. Build it with New, then Run it.
type Service struct {
	cfg     *Config
	log     *logrus.Entry
	metrics *Metrics

	auth     *login.Authenticator // nil: login disabled
	sso      SSO                  // nil: single sign-on disabled
	users    *login.Users
	signer   *Signer // nil: signing disabled
	provider *x509.Provider
	auditor  audit.Auditor // every configured auditor; nil: none
	// revocations: nil when none are configured
	revocations RevocationStore
	tlsCert     atomic.Pointer[tls.Certificate]

	ready    chan struct{}
	addr     net.Addr
	monAddr  net.Addr
	closeMu  sync.Mutex
	closed   bool
	runOnce  sync.Once
	runError error
}

// New applies defaults to a copy of config, validates it, and loads every key, certificate and users file named by cfg and
// connects the auditors. Nothing listens until Run.
func New(config *Config, opts Options) (s *Service, err error) {
	cfg := *config // defaults go into a copy
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.OIDC.Enabled() && opts.NewSSO == nil {
		return nil, fmt.Errorf("%w: oidc_authenticator is configured but this program runs tutti-aaa without single sign-on", ssoconfig.ErrConfig)
	}
	svc := &Service{cfg: &cfg, log: opts.Log, metrics: NewMetrics(cfg.Site), ready: make(chan struct{})}
	if svc.log == nil {
		svc.log = logrus.NewEntry(logrus.New())
	}
	s = svc
	defer func() {
		// The returns below set s to nil: close what was opened through svc.
		if err != nil && svc.auditor != nil {
			_ = svc.auditor.Close()
		}
	}()
	if err := s.loadTLS(); err != nil {
		return nil, err
	}
	if cfg.Signer == "basicjwt" {
		if err := s.loadProvider(); err != nil {
			return nil, err
		}
	}
	if err := s.setupAuditors(); err != nil {
		return nil, err
	}
	if cfg.Authenticator == "userlist" {
		if err := s.setupLogin(opts.Now); err != nil {
			return nil, err
		}
	}
	if cfg.OIDC.Enabled() {
		if err := s.setupSSO(opts.NewSSO, opts.Now); err != nil {
			return nil, err
		}
	}
	if cfg.Signer == "basicjwt" {
		if err := s.setupRevocations(); err != nil {
			return nil, err
		}
		if err := s.setupSigner(opts.Now); err != nil {
			_ = s.closeRevocations()
			return nil, err
		}
	}
	return s, nil
}

func (s *Service) loadTLS() error {
	if s.cfg.InsecureHTTP && s.cfg.TLSCertificate == "" {
		return nil
	}
	c, err := tls.LoadX509KeyPair(s.cfg.TLSCertificate, s.cfg.TLSKey)
	if err != nil {
		return fmt.Errorf("%w: tls_certificate/tls_key: %w", ErrConfig, err)
	}
	s.tlsCert.Store(&c)
	return nil
}

func (s *Service) setupAuditors() error {
	var list []audit.Auditor
	fail := func(name string, err error) error {
		_ = audit.Multi(list...).Close()
		return fmt.Errorf("auditor %s: %w", name, err)
	}
	for _, name := range s.cfg.Auditors {
		var a audit.Auditor
		var err error
		switch name {
		case "logfile":
			a, err = audit.NewFile(audit.FileConfig{Path: s.cfg.LogfileAuditor.Logfile}, s.log.WithField("component", "audit"))
		case "jetstream":
			a, err = s.newJetStreamAuditor()
		}
		if err != nil {
			return fail(name, err)
		}
		list = append(list, a)
	}
	if len(list) == 0 {
		return nil
	}
	s.auditor = audit.Multi(list...)
	if s.provider == nil || s.cfg.AuditChain.Disabled {
		return nil
	}
	ac := s.cfg.AuditChain
	cc := audit.ChainConfig{
		Writer: s.provider.Name(), Signer: s.provider, Interval: time.Duration(ac.CheckpointInterval),
		Records: ac.CheckpointRecords, TailFile: s.cfg.LogfileAuditor.Logfile, StateFile: ac.StateFile,
	}
	if cc.StateFile == "" && cc.TailFile != "" {
		cc.StateFile = cc.TailFile + ".chain"
	}
	c, err := audit.NewChain(cc, s.auditor, s.log.WithField("component", "audit"))
	if err != nil {
		return fail("chain", err)
	}
	s.auditor = c
	return nil
}

// newJetStreamAuditor connects the jetstream auditor. tls:// brokers
// (tutti's always are) get mTLS with the privileged certificate, issued
// by the fleet CA, and that certificate's private inbox prefix: the
// broker lets it receive acknowledgements nowhere else.
func (s *Service) newJetStreamAuditor() (audit.Auditor, error) {
	js := audit.JetStreamConfig{
		Servers: s.cfg.JetStreamAuditor.Servers, Subject: s.cfg.JetStreamAuditor.Topic,
		Name: "tutti-aaa " + s.cfg.Site,
	}
	if s.provider != nil && strings.Contains(js.Servers, "tls://") {
		var err error
		if js.TLS, err = s.provider.ClientTLS(""); err != nil {
			return nil, err
		}
		js.InboxPrefix = x509.InboxPrefix(s.provider.Name())
	}
	js.RetryConnect = true // a signer starts during a broker outage; records wait in the spool
	pub, err := audit.NewJetStream(js)
	if err != nil {
		return nil, err
	}
	dir := s.cfg.JetStreamAuditor.SpoolDir
	if dir == "" {
		dir = s.cfg.LogfileAuditor.Logfile + ".spool"
	}
	// one record a stream message, as before node batching: consumers of
	// the signer's subject keep reading one record per message
	spool, err := audit.NewSpool(audit.SpoolConfig{Dir: dir, MaxBytes: s.cfg.JetStreamAuditor.SpoolMaxBytes,
		Linger: -1},
		pub, s.log.WithField("component", "audit-spool"))
	if err != nil {
		_ = pub.Close()
		return nil, err
	}
	for _, c := range spool.Collectors("aaa") {
		if err := s.metrics.Registry.Register(c); err != nil {
			s.log.WithError(err).Warn("audit spool metrics")
		}
	}
	return spooledStream{Spool: spool, pub: pub}, nil
}

// spooledStream is the jetstream auditor: the spool in front of the
// stream; closing it closes both.
type spooledStream struct {
	*audit.Spool
	pub *audit.JetStream
}

func (s spooledStream) Close() error { return errors.Join(s.Spool.Close(), s.pub.Close()) }

func (s *Service) setupLogin(now func() time.Time) error {
	var err error
	u := s.cfg.Userlist
	if u.UsersFile != "" {
		s.users, err = login.LoadUsersFile(u.UsersFile, s.log.WithField("component", "users"))
	} else {
		s.users, err = login.NewUsers(u.Users)
	}
	if err != nil {
		return err
	}
	key, err := login.LoadSigningKey(u.SigningKey)
	if err != nil {
		return fmt.Errorf("userlist_authenticator.signing_key: %w", err)
	}
	tokens, err := login.NewTokenSigner(key, time.Duration(u.Validity), now)
	if err != nil {
		return err
	}
	l := s.cfg.LoginLimits
	s.auth, err = login.NewAuthenticator(login.Config{
		Users: s.users, Tokens: tokens, Now: now, Log: s.log.WithField("component", "login"),
		Limits: login.RateLimit{UserBurst: l.UserBurst, UserEvery: time.Duration(l.UserEvery),
			AddrBurst: l.AddrBurst, AddrEvery: time.Duration(l.AddrEvery)},
	})
	return err
}

// setupSSO builds the OpenID Connect login (aaa/sso), signing with the
// userlist signing key.
func (s *Service) setupSSO(newSSO func(ssoconfig.Config, SSOOptions) (SSO, error), now func() time.Time) error {
	key, err := login.LoadSigningKey(s.cfg.Userlist.SigningKey)
	if err != nil {
		return fmt.Errorf("userlist_authenticator.signing_key: %w", err)
	}
	s.sso, err = newSSO(s.cfg.OIDC, SSOOptions{Key: key, Now: now, Log: s.log.WithField("component", "sso"),
		Metrics: s.metrics.SSO})
	return err
}

// loadProvider reads the privileged certificate, key and CA once.
func (s *Service) loadProvider() error {
	var err error
	s.provider, err = x509.New(x509.Config{
		CertFile: s.cfg.PrivilegedCertificate, KeyFile: s.cfg.PrivilegedKey, CAFile: s.cfg.PrivilegedCA,
	})
	if err != nil {
		return fmt.Errorf("privileged certificate: %w", err)
	}
	if err := s.checkChoriaKey(); err != nil {
		return err
	}
	if !isPrivilegedName(s.provider.Name()) {
		s.log.Warnf("Signing certificate %q does not match the default privileged patterns (%s); nodes will refuse the callerids it asserts unless their plugin.choria.security.privileged_users matches it",
			s.provider.Name(), strings.Join(x509.DefaultPrivileged, ", "))
	}
	return nil
}

// checkChoriaKey refuses a privileged key that Choria servers cannot
// verify when choria_servers is set.
func (s *Service) checkChoriaKey() error {
	if !s.cfg.ChoriaServers {
		return nil
	}
	if err := s.provider.RequireRSA(); err != nil {
		return fmt.Errorf("%w: choria_servers is set (the fleet has Choria servers), refusing to sign: %w", ErrConfig, err)
	}
	return nil
}

func (s *Service) setupSigner(now func() time.Time) error {
	pub, err := login.LoadVerifyKey(s.cfg.BasicJWT.SigningCertificate)
	if err != nil {
		return fmt.Errorf("basicjwt_signer.signing_certificate: %w", err)
	}
	tokens, err := login.NewTokenVerifier(pub, time.Duration(s.cfg.BasicJWT.MaxValidity), now)
	if err != nil {
		return err
	}
	s.signer, err = NewSigner(SignerConfig{
		Tokens: tokens, Privileged: s.provider, MaxTTL: time.Duration(s.cfg.MaxTTL), ChoriaServers: s.cfg.ChoriaServers,
		AllowBearer: s.cfg.BasicJWT.AllowBearerTokens, Auditor: s.auditor, Site: s.cfg.Site, Now: now,
		Approval: s.cfg.Approval, Revocations: s.revocationsOrNil(),
		Log:          s.log.WithField("component", "signer"),
		OnAuditError: func(error) { s.metrics.AuditErrors.Inc() },
	})
	return err
}

func isPrivilegedName(name string) bool {
	for _, p := range x509.DefaultPrivileged {
		if regexp.MustCompile(p).MatchString(name) {
			return true
		}
	}
	return false
}

// Metrics returns the service's metrics.
func (s *Service) Metrics() *Metrics { return s.metrics }

// Ready is closed once the listeners are open.
func (s *Service) Ready() <-chan struct{} { return s.ready }

// Addr is the API listener's address (valid after Ready).
func (s *Service) Addr() net.Addr { return s.addr }

// MonitorAddr is the monitor listener's address, nil when disabled.
func (s *Service) MonitorAddr() net.Addr { return s.monAddr }

// URL is the API base URL, e.g. https://127.0.0.1:8443 (valid after Ready).
func (s *Service) URL() string {
	scheme := "https"
	if s.tlsCert.Load() == nil {
		scheme = "http"
	}
	return scheme + "://" + s.addr.String()
}

// serverTLS is the API's TLS configuration: TLS 1.2+, the certificate
// in force (rotated by Reload), mTLS when tls_ca is set.
func (s *Service) serverTLS() (*tls.Config, error) {
	c := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.tlsCert.Load(), nil },
	}
	if s.cfg.TLSCA != "" {
		pem, err := os.ReadFile(s.cfg.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("%w: tls_ca: %w", ErrConfig, err)
		}
		pool := stdx509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: tls_ca %s holds no certificate", ErrConfig, s.cfg.TLSCA)
		}
		c.ClientCAs, c.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return c, nil
}

func listenPort(p int) string {
	if p < 0 {
		return "0"
	}
	return strconv.Itoa(p)
}

// Run serves until ctx is cancelled, then shuts down gracefully and
// closes the auditors. A cancelled context is a clean exit (nil). Run
// may be called once.
func (s *Service) Run(ctx context.Context) error {
	ran := false
	s.runOnce.Do(func() { ran = true; s.runError = s.run(ctx) })
	if !ran {
		return errors.New("tutti-aaa: Run called twice")
	}
	return s.runError
}

func (s *Service) run(ctx context.Context) error {
	defer s.closeAuditors()
	if s.sso != nil {
		defer s.sso.Close()
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(s.cfg.ListenAddress, listenPort(s.cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if s.tlsCert.Load() != nil {
		tc, err := s.serverTLS()
		if err != nil {
			ln.Close()
			return err
		}
		ln = tls.NewListener(ln, tc)
	} else {
		s.log.Warn("Serving plain HTTP (insecure_http): tokens and passwords cross the network in clear text")
	}
	s.addr = ln.Addr()
	errLog := log.New(s.log.WithField("component", "http").WriterLevel(logrus.WarnLevel), "", 0)
	api := &http.Server{
		Handler: s.Handler(), ErrorLog: errLog, ReadHeaderTimeout: time.Duration(s.cfg.ReadTimeout),
		ReadTimeout: time.Duration(s.cfg.ReadTimeout), WriteTimeout: time.Duration(s.cfg.WriteTimeout),
		IdleTimeout: time.Duration(s.cfg.IdleTimeout),
	}
	servers := []*http.Server{api}
	errc := make(chan error, 2)
	go func() { errc <- api.Serve(ln) }()
	if s.cfg.MonitorPort != 0 {
		mon, err := s.serveMonitor(errLog, errc)
		if err != nil {
			_ = api.Close()
			return err
		}
		servers = append(servers, mon)
	}
	if s.signer != nil {
		// stopped before the auditors close (defers run last first)
		sweepCtx, stopSweep := context.WithCancel(ctx)
		swept := make(chan struct{})
		go func() { defer close(swept); s.signer.sweepApprovals(sweepCtx, approvalSweepInterval) }()
		defer func() { stopSweep(); <-swept }()
	}
	close(s.ready)
	s.log.Infof("tutti-aaa listening on %s (site %s)", s.URL(), s.cfg.Site)
	select {
	case <-ctx.Done():
	case err = <-errc:
		err = fmt.Errorf("serve: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	for _, srv := range servers {
		_ = srv.Shutdown(sctx)
	}
	return err
}

func (s *Service) serveMonitor(errLog *log.Logger, errc chan<- error) (*http.Server, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(s.cfg.ListenAddress, listenPort(s.cfg.MonitorPort)))
	if err != nil {
		return nil, fmt.Errorf("listen monitor: %w", err)
	}
	s.monAddr = ln.Addr()
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc(HealthPath, s.handleHealth)
	mon := &http.Server{Handler: mux, ErrorLog: errLog, ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	go func() { errc <- mon.Serve(ln) }()
	return mon, nil
}

func (s *Service) closeAuditors() {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	if err := s.closeRevocations(); err != nil {
		s.log.WithError(err).Warn("Closing revocations")
	}
	if s.auditor == nil {
		return
	}
	if err := s.auditor.Close(); err != nil {
		s.log.WithError(err).Warn("Closing auditors")
	}
}

// Reload re-reads the privileged certificate and key, the TLS
// certificate and the users file, and reopens the audit file (SIGHUP).
// A failed part keeps its previous state; all failures are returned.
func (s *Service) Reload() error {
	var errs []error
	if s.provider != nil {
		errs = append(errs, s.provider.Reload(), s.checkChoriaKey())
	}
	if s.tlsCert.Load() != nil {
		errs = append(errs, s.loadTLS())
	}
	if s.users != nil {
		errs = append(errs, s.users.Reload())
	}
	if s.sso != nil {
		s.sso.Reload()
	}
	if s.auditor != nil {
		errs = append(errs, s.auditor.Reopen())
	}
	err := errors.Join(errs...)
	if err != nil {
		s.log.WithError(err).Error("Reload incomplete")
	} else {
		s.log.Info("Reloaded certificates, keys, users and audit files")
	}
	return err
}
