package daemon

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/security/x509"
)

// A node that fails to build leaves nothing running: no facts watcher
// (demo, emulate and tests build nodes in one process).
func TestBuildNodeFailureLeavesNoGoroutines(t *testing.T) {
	dir := t.TempDir()
	if _, err := x509.InitDir(dir, x509.KeyECDSA); err != nil {
		t.Fatal(err)
	}
	if _, _, err := x509.IssueToDir(dir, "node1.example.net", x509.IssueOptions{}); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "server.conf")
	body := "identity = node1.example.net\nlogfile = discard\nplugin.security.provider = file\n" +
		"plugin.security.file.certificate = node1.example.net.pem\nplugin.security.file.key = node1.example.net.key\n" +
		"plugin.security.file.ca = ca.pem\nplugin.choria.middleware_hosts = nats://127.0.0.1:1\n" +
		"rpcaudit = 1\nplugin.rpcaudit.logfile = " + filepath.Join(dir, "ca.pem", "audit.log") + "\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, file, err := config.LoadServer(conf)
	if err != nil {
		t.Fatal(err)
	}
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
