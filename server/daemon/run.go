package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/server/supervise"
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
	sup := supervise.New(log)
	defer sup.Close()
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
	sup.Run(ctx, "connected and subscribed", func() string {
		reloadNode(node, logs, log)
		return "reloaded"
	})
	sctx, cancel := context.WithTimeout(context.Background(), node.Config.SoftShutdownTimeout+time.Second)
	defer cancel()
	node.Shutdown(sctx)
	return nil
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
