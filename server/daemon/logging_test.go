package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/config"
)

func TestLogFormats(t *testing.T) {
	entry := logrus.NewEntry(logrus.New()).WithField("component", "node")
	entry.Message, entry.Level = "node ready", logrus.InfoLevel
	line := func(f logrus.Formatter) string {
		b, err := f.Format(entry)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	t.Setenv("JOURNAL_STREAM", "")
	if l := line(formatter("", "stdout")); !strings.Contains(l, "time=") {
		t.Errorf("terminal line without a timestamp: %q", l)
	}
	if l := line(formatter("", "/var/log/tutti/tuttid.log")); !strings.HasPrefix(l, "{") {
		t.Errorf("file line is not JSON: %q", l)
	}
	if l := line(formatter("text", "/var/log/tutti/tuttid.log")); strings.HasPrefix(l, "{") {
		t.Errorf("log_format = text ignored: %q", l)
	}
	t.Setenv("JOURNAL_STREAM", "8:12345")
	if l := line(formatter("", "stdout")); strings.Contains(l, "time=") || strings.Contains(l, "\x1b[") ||
		!strings.Contains(l, `msg="node ready"`) {
		t.Errorf("journal line %q should have no timestamp or colour", l)
	}
}

func TestLogReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tuttid.log")
	l, err := OpenLog(config.Logging{File: path, Level: "info"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Info("first")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(config.Logging{File: path, Level: "warn"}); err != nil {
		t.Fatal(err)
	}
	l.Info("hidden at warn")
	l.Warn("second")
	// a destination that cannot be opened changes nothing
	if err := l.Reopen(config.Logging{File: filepath.Join(dir, "missing", "x.log"), Level: "debug"}); err == nil {
		t.Fatal("reopen into a missing directory succeeded")
	}
	l.Warn("third")
	l.Debug("still hidden")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	if !strings.Contains(got, "second") || !strings.Contains(got, "third") || strings.Contains(got, "first") ||
		strings.Contains(got, "hidden") {
		t.Fatalf("reopened log:\n%s", got)
	}
	if old, _ := os.ReadFile(path + ".1"); !strings.Contains(string(old), "first") {
		t.Fatalf("rotated log: %s", old)
	}
}
