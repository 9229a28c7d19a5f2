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
	err := buildMismatchedNode(t, "node2.example.net")
	if err == nil || !strings.Contains(err.Error(), `clients would refuse every reply of this node (identity "node2.example.net", certificate "node1.example.net")`) {
		t.Fatalf("BuildNode = %v", err)
	}
}

// buildMismatchedNode builds a node named identity that holds the
// certificate of node1.example.net, and returns BuildNode's error.
func buildMismatchedNode(t *testing.T, identity string) error {
	t.Helper()
	cfg, file := testNodeConfig(t, identity, func(string) string { return "" })
	l := logrus.New()
	l.SetOutput(io.Discard)
	_, err := BuildNode(context.Background(), cfg, file, logrus.NewEntry(l))
	return err
}

// testNodeConfig loads the configuration of a node named identity with a
// fresh CA and the certificate of node1.example.net, plus the lines
// extra returns for the directory they are in.
func testNodeConfig(t *testing.T, identity string, extra func(dir string) string) (*config.Server, *config.File) {
	t.Helper()
	dir := t.TempDir()
	if _, err := x509.InitDir(dir, x509.KeyECDSA); err != nil {
		t.Fatal(err)
	}
	if _, _, err := x509.IssueToDir(dir, "node1.example.net", x509.IssueOptions{}); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "server.conf")
	body := "identity = " + identity + "\nlogfile = discard\nplugin.security.provider = file\n" +
		"plugin.security.file.certificate = node1.example.net.pem\nplugin.security.file.key = node1.example.net.key\n" +
		"plugin.security.file.ca = ca.pem\nplugin.choria.middleware_hosts = nats://127.0.0.1:1\n" + extra(dir)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, file, err := config.LoadServer(conf)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, file
}
