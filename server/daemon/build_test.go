package daemon

import (
	"context"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

// A node that fails to build leaves nothing running: no facts watcher
// (demo, emulate and tests build nodes in one process).
func TestBuildNodeFailureLeavesNoGoroutines(t *testing.T) {
	cfg, file := testNodeConfig(t, "node1.example.net", func(dir string) string {
		return "rpcaudit = 1\nplugin.rpcaudit.logfile = " + filepath.Join(dir, "ca.pem", "audit.log") + "\n"
	})
	l := logrus.New()
	l.SetOutput(io.Discard)
	for range 3 {
		if _, err := BuildNode(context.Background(), cfg, file, logrus.NewEntry(l)); err == nil || !strings.Contains(err.Error(), "audit") {
			t.Fatalf("BuildNode = %v, want the audit refused", err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "facts.(*Store).Watch") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a facts watcher is still running after BuildNode failed:\n%s", stacks)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
