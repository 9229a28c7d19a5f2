package daemon

import (
	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/sirupsen/logrus"
)

// notifyReady tells systemd (Type=notify) that the service is ready. It
// does nothing when not run by systemd (no NOTIFY_SOCKET).
func notifyReady(log *logrus.Entry) {
	sent, err := daemon.SdNotify(false, daemon.SdNotifyReady)
	if err != nil {
		log.WithError(err).Warn("systemd readiness notification failed")
	} else if sent {
		log.Debug("notified systemd of readiness")
	}
}
