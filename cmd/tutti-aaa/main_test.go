package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tuttifleet/tutti/internal/freeport"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server/sdnotify/systemdtest"
	"github.com/tuttifleet/tutti/server/version"
)

func TestHashPassword(t *testing.T) {
	var out, errb bytes.Buffer
	if code := execute(context.Background(), []string{"hash-password", "--cost", "4"}, strings.NewReader("hunter2\n"), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if err := bcrypt.CompareHashAndPassword(bytes.TrimSpace(out.Bytes()), []byte("hunter2")); err != nil {
		t.Fatalf("hash %q: %v", out.String(), err)
	}
	if code := execute(context.Background(), []string{"hash-password"}, strings.NewReader("\n"), &out, &errb); code == 0 {
		t.Fatal("empty password accepted")
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if code := execute(context.Background(), []string{"--version"}, nil, &out, &out); code != 0 || !strings.Contains(out.String(), version.Version) {
		t.Fatalf("exit %d: %s", code, out.String())
	}
}

// TestRunWithChoriaConfig starts the service from an aaasvc-style JSON
// config whose privileged certificate comes from choria_config, over
// --insecure-http, and stops it by cancelling the context.
func TestRunWithChoriaConfig(t *testing.T) {
	sd := systemdtest.Listen(t)
	t.Setenv("WATCHDOG_USEC", "200000")
	dir := t.TempDir()
	w := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ca, _ := x509.NewCA("test CA", x509.KeyECDSA, time.Hour)
	priv, _ := ca.Issue("aaa.privileged.mcollective", x509.IssueOptions{})
	w("ca.pem", ca.CertPEM)
	w("aaa.pem", priv.CertPEM)
	w("aaa.key", priv.KeyPEM)
	choria := w("choria.conf", []byte("plugin.security.provider = file\nplugin.security.file.certificate = aaa.pem\n"+
		"plugin.security.file.key = aaa.key\nplugin.security.file.ca = ca.pem\n"))
	_, jwtKey, _ := ed25519.GenerateKey(rand.Reader)
	pub := w("jwt.pub", []byte(hex.EncodeToString(jwtKey.Public().(ed25519.PublicKey))))
	port := freeport.Must(t)
	cfg := w("aaa.json", []byte(`{"choria_config":"`+choria+`","signer":"basicjwt","port":`+strconv.Itoa(port)+`,
		"listen_address":"127.0.0.1","basicjwt_signer":{"signing_certificate":"`+pub+`","max_validity":"1h"},
		"logfile":"`+filepath.Join(dir, "aaa.log")+`"}`))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var errb bytes.Buffer
	go func() { done <- execute(ctx, []string{"run", "--config", cfg, "--insecure-http"}, nil, &errb, &errb) }()
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case code := <-done:
			t.Fatalf("exited %d: %s", code, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("service not up: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.Post(url+"/choria/v1/login", "application/json", strings.NewReader(`{"username":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotImplemented {
		t.Errorf("login on a sign-only service: %d, want 501", resp.StatusCode)
	}
	// systemd (Type=notify, WatchdogSec) hears readiness, keep-alives and
	// a SIGHUP reload
	if m := sd.WaitFor(t, "READY=1"); !strings.Contains(m, "STATUS=serving "+url) {
		t.Errorf("readiness %q", m)
	}
	sd.WaitFor(t, "WATCHDOG=1")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	sd.WaitFor(t, "RELOADING=1")
	sd.WaitFor(t, "READY=1")
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d after cancel: %s", code, errb.String())
	}
	sd.WaitFor(t, "STOPPING=1")
}

func TestRunRefusesPlainHTTPWithoutFlag(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "aaa.yaml")
	os.WriteFile(cfg, []byte("authenticator: userlist\nport: 8443\nuserlist_authenticator: {signing_key: k, users_file: u}\n"), 0o600)
	var errb bytes.Buffer
	if code := execute(context.Background(), []string{"run", "--config", cfg}, nil, &errb, &errb); code == 0 ||
		!strings.Contains(errb.String(), "tls_certificate and tls_key are required") {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
}

// The sample /etc/tutti/aaa.yaml the packages install parses cleanly.
func TestPackagedSampleConfig(t *testing.T) {
	cfg, warnings, err := loadServiceConfig(filepath.Join("..", "..", "dist", "config", "aaa.yaml"), false)
	if err != nil || len(warnings) > 0 {
		t.Fatalf("aaa.yaml: %v %v", err, warnings)
	}
	if cfg.Port != 8443 || cfg.MonitorPort != 0 || cfg.PrivilegedCertificate != "/etc/tutti/pki/aaa.privileged.mcollective.pem" {
		t.Fatalf("aaa.yaml: %+v", cfg)
	}
}
