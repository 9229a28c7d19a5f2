package broker

import (
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/sirupsen/logrus"
)

// logger routes nats-server's log lines to logrus. nats-server calls
// Fatalf when it cannot go on (a port in use, a bad TLS setting); its own
// logger exits the process there. This one logs at error level instead and
// hands the error to Start, so the embedding process decides what to do.
type logger struct {
	log *logrus.Entry
	// violation, when set, receives nats-server's permission violations
	// instead of its own log line.
	violation func(violation)

	mu    sync.Mutex
	first error         // first fatal error
	fatal chan struct{} // closed on the first fatal error
}

func newLogger(l *logrus.Entry) *logger {
	return &logger{log: l.WithField("source", "nats-server"), fatal: make(chan struct{})}
}

// Noticef logs at info level.
func (l *logger) Noticef(format string, v ...any) { l.log.Infof(format, v...) }

// Warnf logs at warning level.
func (l *logger) Warnf(format string, v ...any) { l.log.Warnf(format, v...) }

// Errorf logs at error level. A permission violation (nats-server logs
// it at error level, naming only the connection) goes to l.violation,
// which logs it with the certificate, role and subject and counts it.
func (l *logger) Errorf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if l.violation != nil {
		if pv, ok := parseViolation(msg); ok {
			l.violation(pv)
			return
		}
	}
	l.log.Error(msg)
}

// Debugf logs at debug level.
func (l *logger) Debugf(format string, v ...any) { l.log.Debugf(format, v...) }

// Tracef logs at trace level.
func (l *logger) Tracef(format string, v ...any) { l.log.Tracef(format, v...) }

// Fatalf logs at error level and records the error for Start; it never
// exits the process.
func (l *logger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.log.WithField("fatal", true).Error(msg)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.first == nil {
		l.first = errors.New(msg)
		close(l.fatal)
	}
}

func (l *logger) fatalErr() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first
}

var _ server.Logger = (*logger)(nil)
