package emulate

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/server/daemon"
)

// RunConfig is `tuttid emulate`: Options plus where the configuration
// comes from and what to do once the fleet is up.
type RunConfig struct {
	Options
	// ConfigPath is the server.conf every node starts from.
	ConfigPath string
	// LogLevel overrides the configuration's loglevel ("" keeps it).
	// A logfile of stdout is moved to stderr: stdout is the caller's.
	LogLevel string
	// Ready is called with the report once every node runs; an error
	// stops the fleet and is returned by Run.
	Ready func(Report) error
	// Settled, when set, is called on every SIGUSR1 with the memory the
	// fleet holds once garbage is collected and returned to the OS.
	Settled func(Memory)
}

// Run loads the configuration, starts the fleet, calls Ready and runs
// until ctx ends, then shuts the fleet down.
func Run(ctx context.Context, rc RunConfig) error {
	if rc.ConfigPath == "" {
		return errors.New("emulate: a configuration file is required (--config)")
	}
	cfg, file, err := config.LoadServer(rc.ConfigPath)
	if err != nil {
		return err
	}
	if cfg.Logging.File == "" || cfg.Logging.File == "stdout" {
		cfg.Logging.File = "stderr"
	}
	if rc.LogLevel != "" {
		cfg.Logging.Level = rc.LogLevel
	}
	logger, closer, err := daemon.NewLogger(cfg.Logging)
	if err != nil {
		return err
	}
	defer closer.Close()
	log := logrus.NewEntry(logger)
	for _, w := range file.Warnings() {
		log.Warn(w.String())
	}
	o := rc.Options
	o.Config, o.File, o.Log = cfg, file, log
	fleet, err := Start(ctx, o)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), cfg.SoftShutdownTimeout+5*time.Second)
		defer cancel()
		fleet.Shutdown(sctx)
	}()
	if rc.Ready != nil {
		if err := rc.Ready(fleet.Report()); err != nil {
			return err
		}
	}
	usr1 := make(chan os.Signal, 1)
	if rc.Settled != nil {
		signal.Notify(usr1, syscall.SIGUSR1)
		defer signal.Stop(usr1)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-usr1:
			rc.Settled(fleet.Settle())
		}
	}
}
