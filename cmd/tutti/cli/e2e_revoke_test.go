package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/cmd/tutti/internal/demo"
	"github.com/tuttifleet/tutti/security/x509"
)

// tutti pki revoke on a fleet of tuttid nodes and a tuttid broker with
// JetStream: the broker refuses the revoked user at its next connection
// within seconds, without a reload; a second revocation carries the
// first; tutti pki revoked lists both and says the token bucket is
// absent; a non-admin certificate cannot publish.
func TestE2EPKIRevoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f, err := demo.StartFleetConfig(ctx, t.TempDir(), 2, demo.FleetConfig{Broker: []string{
		"plugin.choria.network.stream.store = " + filepath.Join(t.TempDir(), "js"),
		`plugin.tutti.broker.admin_certificates = ^admin\.demo\.example\.net$`,
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	pki := filepath.Join(f.Dir, "pki")
	ca, err := x509.LoadCADir(pki)
	if err != nil {
		t.Fatal(err)
	}
	is, err := ca.Issue("admin.demo.example.net", x509.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := is.WriteFiles(pki); err != nil {
		t.Fatal(err)
	}
	guest := filepath.Join(f.Dir, "guest.conf")
	g, err := os.ReadFile(guest)
	if err != nil {
		t.Fatal(err)
	}
	admin := filepath.Join(f.Dir, "admin.conf")
	if err := os.WriteFile(admin, bytes.ReplaceAll(g, []byte("guest.mcollective"), []byte("admin.demo.example.net")), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := runCLI(t, "ping", "--config", guest, "--expect", "2"); code != ExitOK {
		t.Fatalf("guest ping before revocation: %d %s %s", code, out, errs)
	}
	// a serial with no certificate file, not published yet; a client
	// certificate may not publish it
	if code, out, errs := runCLI(t, "pki", "revoke", "--dir", pki, "12345", "--no-publish"); code != ExitOK || !strings.Contains(out, "CRL number 1") {
		t.Fatalf("revoke --no-publish: %d %s %s", code, out, errs)
	}
	if code, _, errs := runCLI(t, "pki", "publish-crl", filepath.Join(pki, "crl.pem"), "--config", guest); code == ExitOK ||
		!strings.Contains(errs, "admin") {
		t.Fatalf("guest published a CRL: %d %s", code, errs)
	}
	start := time.Now()
	code, out, errs := runCLI(t, "pki", "revoke", "--dir", pki, "guest.mcollective", "--reason", "1", "--config", admin)
	if code != ExitOK || !strings.Contains(out, "CRL number 2") || !strings.Contains(out, "TUTTI_CRL") {
		t.Fatalf("revoke: %d %s %s", code, out, errs)
	}
	for {
		code, _, errs = runCLI(t, "ping", "--config", guest, "--expect", "2", "--timeout", "2s")
		if code != ExitOK {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("guest still answered %v after tutti pki revoke", time.Since(start))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("guest refused %v after tutti pki revoke: %s", time.Since(start), errs)
	if !strings.Contains(errs, "revoked") {
		t.Errorf("the refusal does not mention revocation: %s", errs)
	}
	if code, out, errs := runCLI(t, "ping", "--config", f.ClientConfig, "--expect", "2"); code != ExitOK {
		t.Fatalf("demo user after guest's revocation: %d %s %s", code, out, errs)
	}
	code, out, errs = runCLI(t, "pki", "revoked", "--config", admin, "--dir", pki)
	if code != ExitOK || !strings.Contains(out, "CN=guest.mcollective") || !strings.Contains(out, "key compromise") ||
		!strings.Contains(out, "Revoked login tokens (tutti-aaa):\n  none") || !strings.Contains(out, "3039") {
		t.Fatalf("revoked: %d\n%s\n%s", code, out, errs)
	}
	// a client certificate reads the CRLs but not tutti-aaa's bucket: told
	// so at the broker's refusal, not after the 15 s timeout
	asClient := time.Now()
	code, out, errs = runCLI(t, "pki", "revoked", "--config", f.ClientConfig)
	if code == ExitOK || !strings.Contains(out, "CN=guest.mcollective") && !strings.Contains(out, "3039") ||
		!strings.Contains(out, "cannot read TUTTI_TOKEN_REVOCATIONS") || !strings.Contains(out, "ermission") {
		t.Fatalf("revoked as a client: %d\n%s\n%s", code, out, errs)
	}
	if took := time.Since(asClient); took > 10*time.Second {
		t.Errorf("revoked as a client took %s, want the refusal well before the timeout", took)
	}
}
