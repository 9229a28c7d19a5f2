package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInsecureHTTPFlagWithCertificate: --insecure-http with a config
// naming a TLS certificate is refused with a message, not ignored.
func TestInsecureHTTPFlagWithCertificate(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "aaa.yaml")
	if err := os.WriteFile(cfg, []byte("signer: basicjwt\nport: 8443\ntls_certificate: c.pem\ntls_key: c.key\n"+
		"privileged_certificate: a\nprivileged_key: b\nprivileged_ca: c\nbasicjwt_signer: {signing_certificate: p, max_validity: 1h}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	code := execute(context.Background(), []string{"run", "--config", cfg, "--insecure-http"}, nil, &out, &out)
	if code == 0 || !strings.Contains(out.String(), "asks for plain HTTP but tls_certificate") {
		t.Fatalf("exit %d: %s", code, out.String())
	}
}
