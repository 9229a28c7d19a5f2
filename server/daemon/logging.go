package daemon

import (
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/config"
)

// Log is a daemon's logger and the file behind it. Reopen (on SIGHUP)
// closes and reopens the file so logrotate can move it away, and applies
// a new level, format and destination.
type Log struct {
	*logrus.Logger
	mu   sync.Mutex
	file *os.File // nil for stdout, stderr and discard
}

// NewLogger builds the logger described by the logging settings. The
// returned closer closes a log file (a no-op for stdout/stderr).
func NewLogger(c config.Logging) (*logrus.Logger, io.Closer, error) {
	l, err := OpenLog(c)
	if err != nil {
		return nil, nil, err
	}
	return l.Logger, l, nil
}

// OpenLog opens the log described by c.
func OpenLog(c config.Logging) (*Log, error) {
	l := &Log{Logger: logrus.New()}
	if err := l.Reopen(c); err != nil {
		return nil, err
	}
	return l, nil
}

// Reopen applies c: it opens the destination first and changes nothing
// when that fails, so a bad new setting leaves the old log working.
func (l *Log) Reopen(c config.Logging) error {
	lvl, err := logrus.ParseLevel(orDefault(c.Level, "info"))
	if err != nil {
		return fmt.Errorf("loglevel: %w", err)
	}
	var out io.Writer
	var fh *os.File
	dest := orDefault(c.File, "stdout")
	switch dest {
	case "stdout":
		out = os.Stdout
	case "stderr":
		out = os.Stderr
	case "discard":
		out = io.Discard
	default:
		if fh, err = os.OpenFile(dest, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o640); err != nil {
			return fmt.Errorf("open log file: %w", err)
		}
		out = fh
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.SetFormatter(formatter(c.Format, dest))
	l.SetLevel(lvl)
	l.SetOutput(out) // logrus swaps the writer under its own lock
	if l.file != nil {
		_ = l.file.Close()
	}
	l.file = fh
	return nil
}

// formatter is JSON for files (as Choria does) unless text is asked for,
// and text otherwise. Under systemd (JOURNAL_STREAM set) text lines carry
// neither timestamps nor colours: the journal adds its own timestamp.
func formatter(format, dest string) logrus.Formatter {
	file := dest != "stdout" && dest != "stderr" && dest != "discard"
	if format == "json" || (format == "" && file) {
		return &logrus.JSONFormatter{}
	}
	if !file && os.Getenv("JOURNAL_STREAM") != "" {
		return &logrus.TextFormatter{DisableTimestamp: true, DisableColors: true}
	}
	return &logrus.TextFormatter{FullTimestamp: true}
}

// Close closes the log file, if any. Later lines go to stderr.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file == nil {
		return nil
	}
	l.SetOutput(os.Stderr)
	err := l.file.Close()
	l.file = nil
	return err
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
