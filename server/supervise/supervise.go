// Package supervise is the one main loop of every tutti service run by
// systemd (tuttid, tuttid broker, tutti-aaa): announce readiness, reload
// on SIGHUP, send watchdog keep-alives, and announce the stop.
//
// Like server/sdnotify, which it builds on, it lives under server/ so the
// node daemon can use it, and imports nothing else of ours, so tutti-aaa
// uses it without linking the node.
package supervise

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/server/sdnotify"
)

// Supervisor catches SIGHUP from New until Close and runs the loop.
type Supervisor struct {
	hup chan os.Signal
	sd  *sdnotify.Notifier
	log *logrus.Entry
}

// New starts catching SIGHUP. Call it before starting the service: a
// reload sent as soon as systemd says "active" must not kill the process
// (SIGHUP's default action), even before Run.
func New(log *logrus.Entry) *Supervisor {
	s := &Supervisor{hup: make(chan os.Signal, 1), sd: sdnotify.New(log), log: log}
	signal.Notify(s.hup, syscall.SIGHUP)
	return s
}

// Close stops catching SIGHUP.
func (s *Supervisor) Close() { signal.Stop(s.hup) }

// Run tells systemd the service is ready (READY=1 with status), then
// until ctx ends: on SIGHUP it sends RELOADING=1, calls reload and sends
// READY=1 with the status reload returns; it sends watchdog keep-alives
// from the same loop, so a reload that hangs stops them and systemd
// restarts the service. When ctx ends it logs, sends STOPPING=1 and
// returns; the caller then shuts the service down.
func (s *Supervisor) Run(ctx context.Context, status string, reload func() string) {
	s.sd.Ready(status)
	watchdog, stopWatchdog := s.sd.WatchdogTicker()
	defer stopWatchdog()
	for {
		select {
		case <-ctx.Done():
			s.log.Info("shutting down")
			s.sd.Stopping()
			return
		case <-s.hup:
			s.sd.Reloading()
			s.sd.Ready(reload())
		case <-watchdog:
			s.sd.Watchdog()
		}
	}
}
