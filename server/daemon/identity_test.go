package daemon

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/security/x509"
)

// A node whose identity is not its certificate's name refuses to start:
// every reply it sent would fail verification on the client.
func TestBuildNodeRefusesIdentityCertificateMismatch(t *testing.T) {
	dir := t.TempDir()
	if _, err := x509.InitDir(dir, x509.KeyECDSA); err != nil {
		t.Fatal(err)
	}
	if _, _, err := x509.IssueToDir(dir, "node1.example.net", x509.IssueOptions{}); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "server.conf")
	body := "identity = node2.example.net\nlogfile = discard\nplugin.security.provider = file\n" +
		"plugin.security.file.certificate = node1.example.net.pem\nplugin.security.file.key = node1.example.net.key\n" +
		"plugin.security.file.ca = ca.pem\nplugin.choria.middleware_hosts = nats://127.0.0.1:1\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, file, err := config.LoadServer(conf)
	if err != nil {
		t.Fatal(err)
	}
	l := logrus.New()
	l.SetOutput(io.Discard)
	_, err = BuildNode(context.Background(), cfg, file, logrus.NewEntry(l))
	if err == nil || !strings.Contains(err.Error(), `clients would refuse every reply of this node (identity "node2.example.net", certificate "node1.example.net")`) {
		t.Fatalf("BuildNode = %v", err)
	}
}
