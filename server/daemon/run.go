package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server/broker"
)

// startLogging opens the log and reports the config file's warnings.
func startLogging(c config.Logging, identity string, file *config.File) (*Log, *logrus.Entry, error) {
	l, err := OpenLog(c)
	if err != nil {
		return nil, nil, err
	}
	log := logrus.NewEntry(l.Logger).WithField("identity", identity)
	for _, w := range file.Warnings() {
		log.Warn(w.String())
	}
	return l, log, nil
}

// RunNode runs tuttid with the config at path until ctx ends. It tells
// systemd when the node is connected and subscribed (READY=1), sends
// watchdog keep-alives from its main loop, and reloads on SIGHUP.
func RunNode(ctx context.Context, path string) error {
	cfg, file, err := config.LoadServer(path)
	if err != nil {
		return err
	}
	logs, log, err := startLogging(cfg.Logging, cfg.Identity, file)
	if err != nil {
		return err
	}
	defer logs.Close()
	// SIGHUP is caught before readiness is announced, so a reload sent
	// as soon as systemd says "active" never kills the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	node, err := BuildNode(ctx, cfg, file, log)
	if err != nil {
		return err
	}
	if node.Registry != nil {
		ms, err := ServeMetrics(net.JoinHostPort(cfg.StatsAddress, strconv.Itoa(cfg.StatsPort)), node.Registry, log.WithField("component", "metrics"))
		if err != nil {
			node.Shutdown(context.Background())
			return err
		}
		defer ms.Close()
	}
	sd := NewNotifier(log)
	sd.Ready("connected and subscribed")
	watchdog, stopWatchdog := sd.watchdogTicker()
	defer stopWatchdog()
	for {
		select {
		case <-ctx.Done():
			log.Info("shutting down")
			sd.Stopping()
			sctx, cancel := context.WithTimeout(context.Background(), node.Config.SoftShutdownTimeout+time.Second)
			node.Shutdown(sctx)
			cancel()
			return nil
		case <-hup:
			sd.Reloading()
			reloadNode(node, logs, log)
			sd.Ready("reloaded")
		case <-watchdog:
			sd.Watchdog()
		}
	}
}

// reloadNode runs one SIGHUP reload and logs its outcome.
func reloadNode(node *Node, logs *Log, log *logrus.Entry) {
	log.Info("SIGHUP: reloading configuration, certificates, facts, policies and logs")
	err := node.Reload()
	if errors.Is(err, ErrReloadRefused) {
		log.WithError(err).Error("reload refused")
		node.metrics.reloaded(err)
		return
	}
	if lerr := logs.Reopen(node.Config.Logging); lerr != nil {
		err = errors.Join(err, fmt.Errorf("log file (previous one kept): %w", lerr))
	}
	node.metrics.reloaded(err)
	if err != nil {
		log.WithError(err).Error("reload incomplete")
		return
	}
	log.Info("reload complete")
}

// StartBroker starts the embedded broker described by cfg.
func StartBroker(ctx context.Context, cfg *config.Broker, log *logrus.Entry) (*broker.Broker, error) {
	p, err := x509.New(SecurityConfig(cfg.Security))
	if err != nil {
		return nil, fmt.Errorf("broker security: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(cfg.Security.CertFile, cfg.Security.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("broker certificate: %w", err)
	}
	// Clients and cluster peers must present certificates from our CA.
	tlsc := &tls.Config{
		MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert},
		ClientCAs: p.CAPool(), RootCAs: p.CAPool(), ClientAuth: tls.RequireAndVerifyClientCert,
	}
	b, err := broker.New(broker.Config{
		ListenAddress: cfg.ListenAddress, ClientPort: cfg.ClientPort, TLS: tlsc, PeerPort: cfg.PeerPort,
		Peers: cfg.Peers, ServerName: cfg.Identity, MonitorPort: cfg.MonitorPort, JetStreamDir: cfg.StreamStore,
		MaxPayload: int32(cfg.MaxMessageSize), Log: log.WithField("component", "broker"),
	})
	if err != nil {
		return nil, err
	}
	if err := b.Start(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

// RunBroker runs `tuttid broker` with the config at path until ctx ends.
// SIGHUP reopens the log file and applies a new log level; TLS and
// cluster settings need a restart.
func RunBroker(ctx context.Context, path string) error {
	cfg, file, err := config.LoadBroker(path)
	if err != nil {
		return err
	}
	logs, log, err := startLogging(cfg.Logging, cfg.Identity, file)
	if err != nil {
		return err
	}
	defer logs.Close()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	b, err := StartBroker(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer b.Shutdown()
	if cfg.MetricsPort != 0 {
		reg := newProcessRegistry("broker")
		reg.MustRegister(newBrokerCollector(b.Server()))
		ms, err := ServeMetrics(net.JoinHostPort(cfg.MetricsAddress, strconv.Itoa(cfg.MetricsPort)), reg, log.WithField("component", "metrics"))
		if err != nil {
			return err
		}
		defer ms.Close()
	}
	log.WithField("url", b.ClientURL()).Info("broker ready")
	sd := NewNotifier(log)
	sd.Ready("accepting clients")
	watchdog, stopWatchdog := sd.watchdogTicker()
	defer stopWatchdog()
	for {
		select {
		case <-ctx.Done():
			log.Info("broker shutting down")
			sd.Stopping()
			return nil
		case <-hup:
			sd.Reloading()
			reopenBrokerLog(path, logs, log)
			sd.Ready("accepting clients")
		case <-watchdog:
			sd.Watchdog()
		}
	}
}

// reopenBrokerLog re-reads the broker config for its logging settings
// and reopens the log; a bad file keeps the old log.
func reopenBrokerLog(path string, logs *Log, log *logrus.Entry) {
	cfg, _, err := config.LoadBroker(path)
	if err == nil {
		err = logs.Reopen(cfg.Logging)
	}
	if err != nil {
		log.WithError(err).Error("SIGHUP: log reopen refused, keeping the old log")
		return
	}
	log.Info("SIGHUP: log reopened (TLS and cluster changes need a restart)")
}
