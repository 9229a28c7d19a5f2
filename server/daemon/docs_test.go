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

// TestQuickstartIdentityMismatch keeps docs/quickstart.md honest: the
// error it quotes for a node whose identity is not its certificate's name
// is the one tuttid gives (it refuses to start), word for word.
func TestQuickstartIdentityMismatch(t *testing.T) {
	dir := t.TempDir()
	if _, err := x509.InitDir(dir, x509.KeyECDSA); err != nil {
		t.Fatal(err)
	}
	if _, _, err := x509.IssueToDir(dir, "node1.example.net", x509.IssueOptions{}); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "server.conf")
	body := "identity = node1\nlogfile = discard\nplugin.security.provider = file\n" +
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
	if err == nil {
		t.Fatal("a node whose identity is not its certificate's name started")
	}
	doc, rerr := os.ReadFile(filepath.Join("..", "..", "docs", "quickstart.md"))
	if rerr != nil {
		t.Fatal(rerr)
	}
	// the quick start wraps lines: compare with white space collapsed
	flat := strings.Join(strings.Fields(string(doc)), " ")
	if want := "tuttid: " + err.Error(); !strings.Contains(flat, want) {
		t.Errorf("docs/quickstart.md does not quote tuttid's refusal; it should contain\n%s", want)
	}
}
