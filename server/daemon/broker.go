package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server/broker"
	"github.com/tuttifleet/tutti/server/supervise"
)

// Broker is a running embedded broker with the provider its TLS comes
// from: a Reload of the provider rotates the certificate, key, CA and CRL
// for new connections.
type Broker struct {
	*broker.Broker
	Config   *config.Broker
	Provider *x509.Provider
	Log      *logrus.Entry
	crl      *crlWatch
}

// StartBroker starts the embedded broker described by cfg.
func StartBroker(ctx context.Context, cfg *config.Broker, log *logrus.Entry) (*broker.Broker, error) {
	b, err := StartBrokerDaemon(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	return b.Broker, nil
}

// StartBrokerDaemon starts the embedded broker described by cfg and keeps
// what Reload needs.
func StartBrokerDaemon(ctx context.Context, cfg *config.Broker, log *logrus.Entry) (*Broker, error) {
	p, err := x509.New(x509.ConfigFrom(cfg.Security))
	if err != nil {
		return nil, fmt.Errorf("broker security: %w", err)
	}
	// Clients and cluster peers must present certificates from our CA
	// that the CRL does not list; looked up per handshake.
	tlsc, err := p.BrokerTLS()
	if err != nil {
		return nil, fmt.Errorf("broker certificate: %w", err)
	}
	authz, err := brokerAuthorization(cfg)
	if err != nil {
		return nil, fmt.Errorf("broker authorization: %w", err)
	}
	links, err := brokerLinks(cfg.Links, log)
	if err != nil {
		return nil, fmt.Errorf("broker links: %w", err)
	}
	bc := broker.Config{
		ListenAddress: cfg.ListenAddress, ClientPort: cfg.ClientPort, TLS: tlsc, PeerPort: cfg.PeerPort,
		Peers: cfg.Peers, ServerName: cfg.Identity, MonitorPort: cfg.MonitorPort, JetStreamDir: cfg.StreamStore,
		MaxPayload: int32(cfg.MaxMessageSize), Authorization: authz, Log: log.WithField("component", "broker"),
		AuditStream: broker.AuditStream{
			Off: !cfg.AuditStream.Enabled, Name: cfg.AuditStream.Name, Subjects: cfg.AuditStream.Subjects,
			MaxAge: cfg.AuditStream.MaxAge, MaxBytes: cfg.AuditStream.MaxBytes, Replicas: cfg.AuditStream.Replicas,
			Duplicates: cfg.AuditStream.Duplicates, Sources: cfg.AuditStream.Sources,
		},
	}
	links.apply(&bc)
	b, err := broker.New(bc)
	if err != nil {
		return nil, err
	}
	if err := b.Start(ctx); err != nil {
		return nil, err
	}
	d := &Broker{Broker: b, Config: cfg, Provider: p, Log: log}
	if d.crl, err = d.startBrokerCRLWatch(); err != nil {
		b.Shutdown()
		return nil, err
	}
	return d, nil
}

// Shutdown stops the CRL watch and the broker.
func (b *Broker) Shutdown() {
	b.crl.close()
	b.Broker.Shutdown()
}

// Reload re-reads the broker's configuration file at path and its
// certificate, key, CA and CRL. An invalid file is refused
// (ErrReloadRefused) and nothing changes. New files that do not load (a
// key that does not match its certificate, a CRL not signed by the CA…)
// keep the previous ones in force and are reported in the error. New TLS
// handshakes use the new files; connections already up stay.
//
// Listen addresses, ports, cluster and monitoring settings, and the
// certificate paths need a restart: a changed value is logged and the
// running one kept.
func (b *Broker) Reload(path string) (*config.Broker, error) {
	cfg, file, err := config.LoadBroker(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrReloadRefused, err)
	}
	for _, w := range file.Warnings() {
		b.Log.Warn(w.String())
	}
	b.keepRestartOnly(cfg)
	b.Config = cfg
	if err := b.Provider.Reload(); err != nil {
		return cfg, fmt.Errorf("certificates (previous ones kept): %w", err)
	}
	return cfg, nil
}

// keepRestartOnly warns about settings a reload cannot change and puts
// the running values back.
func (b *Broker) keepRestartOnly(cfg *config.Broker) {
	old := b.Config
	warn := func(what string, changed bool) {
		if changed {
			b.Log.Warnf("reload: %s changed in the file; this needs a restart, keeping the old value until then", what)
		}
	}
	warn("identity", cfg.Identity != old.Identity)
	warn("listen address or ports", cfg.ListenAddress != old.ListenAddress || cfg.ClientPort != old.ClientPort ||
		cfg.PeerPort != old.PeerPort || cfg.MonitorPort != old.MonitorPort)
	warn("cluster peers", !slices.Equal(cfg.Peers, old.Peers))
	warn("leafnode and gateway links (plugin.choria.network.leafnode_*, gateway_*, plugin.tutti.broker.link_certificates, jetstream_domain)",
		!reflect.DeepEqual(cfg.Links, old.Links) || !slices.Equal(cfg.AuditStream.Sources, old.AuditStream.Sources))
	warn("security provider settings (certificate, key, CA, CRL paths)", !reflect.DeepEqual(x509.ConfigFrom(cfg.Security), x509.ConfigFrom(old.Security)))
	warn("metrics listener", cfg.MetricsPort != old.MetricsPort || cfg.MetricsAddress != old.MetricsAddress)
	warn("stream store", cfg.StreamStore != old.StreamStore)
	warn("message size", cfg.MaxMessageSize != old.MaxMessageSize)
	warn("broker permissions (plugin.tutti.broker.*, client_signer_cert, privileged_users, certname_whitelist)",
		!reflect.DeepEqual(cfg.Authorization, old.Authorization) || !slices.Equal(cfg.Security.Privileged, old.Security.Privileged) ||
			!slices.Equal(cfg.Security.CertnameAllow, old.Security.CertnameAllow))
	logging := cfg.Logging
	*cfg = *old
	cfg.Logging = logging
}

// RunBroker runs `tuttid broker` with the config at path until ctx ends.
// SIGHUP re-reads the certificate, key, CA and CRL (new connections use
// them), reopens the log file and applies a new log level; listeners and
// cluster settings need a restart.
func RunBroker(ctx context.Context, path string) error {
	cfg, file, err := config.LoadBroker(path)
	if err != nil {
		return err
	}
	path = file.Path // the file found when path was "", for reloads
	logs, log, err := startLogging(cfg.Logging, cfg.Identity, file)
	if err != nil {
		return err
	}
	defer logs.Close()
	sup := supervise.New(log)
	defer sup.Close()
	b, err := StartBrokerDaemon(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer b.Shutdown()
	var reloads *daemonMetrics
	if cfg.MetricsPort != 0 {
		reg := newProcessRegistry("broker")
		reg.MustRegister(newBrokerCollector(b.Broker))
		reloads = newReloadMetrics(reg)
		ms, err := ServeMetrics(net.JoinHostPort(cfg.MetricsAddress, strconv.Itoa(cfg.MetricsPort)), reg, log.WithField("component", "metrics"))
		if err != nil {
			return err
		}
		defer ms.Close()
	}
	sup.Run(ctx, "accepting clients", func() string {
		reloads.reloaded(reloadBroker(b, path, logs, log))
		return "accepting clients"
	})
	return nil
}

// reloadBroker runs one SIGHUP reload of the broker and logs its outcome.
func reloadBroker(b *Broker, path string, logs *Log, log *logrus.Entry) error {
	log.Info("SIGHUP: reloading certificates and log")
	cfg, err := b.Reload(path)
	if errors.Is(err, ErrReloadRefused) {
		log.WithError(err).Error("reload refused")
		return err
	}
	if lerr := logs.Reopen(cfg.Logging); lerr != nil {
		err = errors.Join(err, fmt.Errorf("log file (previous one kept): %w", lerr))
	}
	if err != nil {
		log.WithError(err).Error("reload incomplete")
		return err
	}
	fields := logrus.Fields{"certificate": b.Provider.Name()}
	if certs, err := x509.ParseCertificatesPEM(b.Provider.CertificatePEM()); err == nil {
		fields["serial"] = fmt.Sprintf("%X", certs[0].SerialNumber)
		fields["not_after"] = certs[0].NotAfter.UTC().Format(time.RFC3339)
	}
	log.WithFields(fields).Info("reload complete: certificates re-read for new connections, log reopened")
	return nil
}
