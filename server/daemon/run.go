package daemon

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server/broker"
)

// startLogging builds the logger and reports the config file's warnings.
func startLogging(c config.Logging, identity string, file *config.File) (*logrus.Entry, io.Closer, error) {
	logger, closer, err := NewLogger(c)
	if err != nil {
		return nil, nil, err
	}
	log := logrus.NewEntry(logger).WithField("identity", identity)
	for _, w := range file.Warnings() {
		log.Warn(w.String())
	}
	return log, closer, nil
}

// RunNode runs tuttid with the config at path until ctx ends.
func RunNode(ctx context.Context, path string) error {
	cfg, file, err := config.LoadServer(path)
	if err != nil {
		return err
	}
	log, closer, err := startLogging(cfg.Logging, cfg.Identity, file)
	if err != nil {
		return err
	}
	defer closer.Close()
	node, err := BuildNode(ctx, cfg, file, log)
	if err != nil {
		return err
	}
	notifyReady(log)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			log.Info("shutting down")
			sctx, cancel := context.WithTimeout(context.Background(), cfg.SoftShutdownTimeout+time.Second)
			node.Shutdown(sctx)
			cancel()
			return nil
		case <-hup:
			log.Info("SIGHUP: reloading")
			if err := node.Reload(); err != nil {
				log.WithError(err).Error("reload incomplete")
			} else {
				log.Info("reload complete")
			}
		}
	}
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
func RunBroker(ctx context.Context, path string) error {
	cfg, file, err := config.LoadBroker(path)
	if err != nil {
		return err
	}
	log, closer, err := startLogging(cfg.Logging, cfg.Identity, file)
	if err != nil {
		return err
	}
	defer closer.Close()
	b, err := StartBroker(ctx, cfg, log)
	if err != nil {
		return err
	}
	log.WithField("url", b.ClientURL()).Info("broker ready")
	notifyReady(log)
	<-ctx.Done()
	log.Info("broker shutting down")
	b.Shutdown()
	return nil
}
