package signer_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/aaa/signer"
	"github.com/tuttifleet/tutti/aaa/signer/signertest"
	"github.com/tuttifleet/tutti/security/x509"
)

func choriaServers(c *signer.Config) { c.ChoriaServers = true }

// With choria_servers, tutti-aaa does not start with a privileged key
// Choria servers cannot verify, and says which key, which certificate
// and how to fix it.
func TestChoriaServersRefusesNonRSAAtStart(t *testing.T) {
	for _, kt := range []x509.KeyType{x509.KeyECDSA, x509.KeyEd25519} {
		t.Run(string(kt), func(t *testing.T) {
			env := signertest.Prepare(t, signertest.Options{PrivilegedKey: kt, Configure: choriaServers})
			s, err := signer.New(env.Config, signer.Options{})
			if err == nil || s != nil {
				t.Fatal("tutti-aaa started with a non-RSA privileged key and choria_servers set")
			}
			for _, want := range []string{"choria_servers", strings.ToUpper(string(kt)), "aaa.privileged.mcollective",
				"tutti pki issue --key-type rsa aaa.privileged.mcollective"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q: %v", want, err)
				}
			}
			if !errors.Is(err, signer.ErrConfig) || !errors.Is(err, x509.ErrNotRSA) {
				t.Errorf("error kinds: %v", err)
			}
		})
	}
	// without the setting, the same key is fine
	env := signertest.Prepare(t, signertest.Options{PrivilegedKey: x509.KeyECDSA})
	s, err := signer.New(env.Config, signer.Options{})
	if err != nil || s == nil {
		t.Fatalf("ECDSA without choria_servers: %v", err)
	}
}

// A reload that rotates to a non-RSA key is reported, and every request
// is then refused rather than signed with it.
func TestChoriaServersRefusesNonRSAAfterReload(t *testing.T) {
	var logs bytes.Buffer
	l := logrus.New()
	l.SetOutput(&logs)
	env := signertest.Start(t, signertest.Options{PrivilegedKey: x509.KeyRSA, Configure: choriaServers, Log: logrus.NewEntry(l)})
	tok, seed := env.Login(t, "bob")
	if _, code := env.Sign(t, tok, signertest.Request(t, "rpcutil", "ping", "up=bob", time.Now(), 60), seed); code != "" {
		t.Fatalf("RSA key refused: %s", code)
	}
	next, err := env.CA.Issue("aaa.privileged.mcollective", x509.IssueOptions{KeyType: x509.KeyECDSA})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, env.Config.PrivilegedCertificate, next.CertPEM)
	writeFile(t, env.Config.PrivilegedKey, next.KeyPEM)
	if err := env.Service.Reload(); !errors.Is(err, x509.ErrNotRSA) {
		t.Fatalf("Reload to an ECDSA key: %v", err)
	}
	sec, code := env.Sign(t, tok, signertest.Request(t, "rpcutil", "ping", "up=bob", time.Now(), 60), seed)
	if sec != nil || code != signer.CodeInternal {
		t.Fatalf("signed with an ECDSA key for a fleet with Choria servers (code %q)", code)
	}
	if !strings.Contains(logs.String(), "choria_servers") || !strings.Contains(logs.String(), "ECDSA") {
		t.Fatalf("the refusal is not logged with its reason:\n%s", logs.String())
	}
}

func TestChoriaServersConfigKey(t *testing.T) {
	cfg, warnings, err := signer.ParseConfig([]byte("authenticator: userlist\nport: 8443\ninsecure_http: true\n" +
		"userlist_authenticator: {signing_key: k, users_file: u}\nchoria_servers: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.ChoriaServers || len(warnings) != 0 {
		t.Fatalf("choria_servers = %v, warnings %v", cfg.ChoriaServers, warnings)
	}
}
