// Package sdnotify speaks systemd's service notification protocol
// (sd_notify: Type=notify, Type=notify-reload, WatchdogSec=) for every
// tutti service: tuttid, tuttid broker and tutti-aaa.
//
// It lives under server/ because the node daemon needs it and packages
// outside cmd/ cannot import cmd/internal, but it is a leaf: it imports
// nothing of ours, so a binary that imports it (tutti-aaa) does not link
// the node. server/supervise builds the ready/reload/watchdog/stop loop
// on top of it; server/sdnotify/systemdtest is the fake notification
// socket for tests and stays out of the product's import graph.
package sdnotify

import (
	"fmt"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/sirupsen/logrus"
)

// Notifier speaks systemd's service notification protocol (Type=notify,
// WatchdogSec=): readiness, reloads, shutdown and watchdog keep-alives.
// Without NOTIFY_SOCKET (not run by systemd) every call does nothing.
type Notifier struct {
	log *logrus.Entry
}

// New returns a notifier that logs failures to log.
func New(log *logrus.Entry) *Notifier { return &Notifier{log: log} }

func (n *Notifier) send(state string) {
	sent, err := daemon.SdNotify(false, state)
	if err != nil {
		n.log.WithError(err).Warn("systemd notification failed")
	} else if sent {
		n.log.WithField("state", state).Debug("notified systemd")
	}
}

// Ready says the service is up (READY=1) with a status line.
func (n *Notifier) Ready(status string) { n.send(daemon.SdNotifyReady + "\nSTATUS=" + status) }

// Reloading says a reload started (RELOADING=1); send Ready when it ends.
// MONOTONIC_USEC lets systemd ≥ 253 match the reload (Type=notify-reload).
func (n *Notifier) Reloading() {
	n.send(fmt.Sprintf("%s\nMONOTONIC_USEC=%d", daemon.SdNotifyReloading, monotonicUsec()))
}

// Stopping says a clean shutdown started (STOPPING=1).
func (n *Notifier) Stopping() { n.send(daemon.SdNotifyStopping) }

// Watchdog sends a keep-alive (WATCHDOG=1).
func (n *Notifier) Watchdog() { n.send(daemon.SdNotifyWatchdog) }

// WatchdogInterval is how often to send keep-alives: half of WatchdogSec
// as systemd recommends, or 0 when the watchdog is off.
func (n *Notifier) WatchdogInterval() time.Duration {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		n.log.WithError(err).Warn("systemd watchdog settings are invalid; not sending keep-alives")
		return 0
	}
	return d / 2
}

// WatchdogTicker returns a channel that ticks every keep-alive interval,
// or nil (never ready in a select) when the watchdog is off, and the
// function that stops it.
func (n *Notifier) WatchdogTicker() (<-chan time.Time, func()) {
	every := n.WatchdogInterval()
	if every <= 0 {
		return nil, func() {}
	}
	n.log.WithField("every", every).Info("sending systemd watchdog keep-alives")
	t := time.NewTicker(every)
	return t.C, t.Stop
}
