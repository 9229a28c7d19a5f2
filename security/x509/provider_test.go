package x509

import (
	"crypto/tls"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tuttifleet/tutti/connector/protocol"
)

// fileFixture writes a CA and a node certificate to disk.
type fileFixture struct {
	dir                       string
	ca                        *CA
	node                      *Issued
	caPath, certPath, keyPath string
}

func newFileFixture(t *testing.T) *fileFixture {
	t.Helper()
	f := &fileFixture{dir: t.TempDir(), ca: mustCA(t, "test CA", KeyECDSA)}
	f.node = mustIssue(t, f.ca, "node1.mcollective", IssueOptions{})
	f.caPath = filepath.Join(f.dir, "ca.pem")
	f.write(t, f.caPath, f.ca.CertPEM)
	var err error
	if f.certPath, f.keyPath, err = f.node.WriteFiles(f.dir); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fileFixture) write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (f *fileFixture) config() Config {
	return Config{CertFile: f.certPath, KeyFile: f.keyPath, CAFile: f.caPath}
}

func TestReloadDropsCache(t *testing.T) {
	f := newFileFixture(t)
	p, err := New(f.config())
	if err != nil {
		t.Fatal(err)
	}
	alice := mustIssue(t, f.ca, "alice.mcollective", IssueOptions{})
	sig := mustSign(t, alice, testMsg)
	verify := func() error {
		_, err := p.VerifyRequest(testMsg, sig, alice.CertPEM, "choria=alice.mcollective")
		return err
	}
	if err := verify(); err != nil {
		t.Fatal(err)
	}

	t.Run("CRL updated", func(t *testing.T) {
		dir := t.TempDir()
		cfg := f.config()
		cfg.CRLFile = writeCRL(t, dir, f.ca) // revokes nothing
		cp, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cp.VerifyRequest(testMsg, sig, alice.CertPEM, "choria=alice.mcollective"); err != nil {
			t.Fatal(err)
		}
		writeCRL(t, dir, f.ca, alice.Cert) // same path, now revoking alice
		if err := cp.Reload(); err != nil {
			t.Fatal(err)
		}
		_, err = cp.VerifyRequest(testMsg, sig, alice.CertPEM, "choria=alice.mcollective")
		wantRefusal(t, err, protocol.KindCertificate, "is revoked")
	})

	t.Run("CA replaced", func(t *testing.T) {
		f.write(t, f.caPath, mustCA(t, "new CA", KeyECDSA).CertPEM)
		// The old cert is still cached; only Reload may change the verdict.
		if err := verify(); err != nil {
			t.Fatalf("before Reload: %v", err)
		}
		if err := p.Reload(); err != nil {
			t.Fatal(err)
		}
		wantRefusal(t, verify(), protocol.KindCertificate, "is not signed by the configured CA")
	})

	t.Run("failed reload keeps state", func(t *testing.T) {
		f.write(t, f.caPath, []byte("not a certificate"))
		err := p.Reload()
		if err == nil || !strings.Contains(err.Error(), "parse CA") {
			t.Fatalf("Reload error = %v, want parse CA failure", err)
		}
		if p.Name() != "node1.mcollective" {
			t.Fatalf("Name after failed reload = %q", p.Name())
		}
	})
}

func TestNewErrors(t *testing.T) {
	f := newFileFixture(t)
	other := mustIssue(t, f.ca, "node2.mcollective", IssueOptions{})
	otherKey := filepath.Join(f.dir, "other.key")
	f.write(t, otherKey, other.KeyPEM)
	badCRL := filepath.Join(f.dir, "bad-crl.pem")
	f.write(t, badCRL, []byte("junk"))
	foreignCRL := writeCRL(t, t.TempDir(), mustCA(t, "foreign CA", KeyECDSA))

	tests := []struct {
		name    string
		mod     func(*Config)
		want    string
		notExst bool
	}{
		{name: "no CA", mod: func(c *Config) { c.CAFile = "" }, want: "no CA file configured"},
		{name: "missing CA", mod: func(c *Config) { c.CAFile += ".missing" }, want: "read CA file", notExst: true},
		{name: "missing key", mod: func(c *Config) { c.KeyFile += ".missing" }, want: "read key file", notExst: true},
		{name: "key without cert", mod: func(c *Config) { c.CertFile = "" }, want: "without a certificate file"},
		{name: "key of another cert", mod: func(c *Config) { c.KeyFile = otherKey }, want: `does not belong to certificate "node1.mcollective"`},
		{name: "bad allow regex", mod: func(c *Config) { c.CertnameAllow = []string{"/(/"} }, want: "certname allow pattern"},
		{name: "bad privileged regex", mod: func(c *Config) { c.Privileged = []string{"a[b"} }, want: "privileged pattern"},
		{name: "bad caller kind", mod: func(c *Config) { c.PrivilegedCallerKinds = []string{"UP"} }, want: "privileged caller kind"},
		{name: "CRL without CRL block", mod: func(c *Config) { c.CRLFile = badCRL }, want: "holds no X509 CRL"},
		{name: "CRL of another CA", mod: func(c *Config) { c.CRLFile = foreignCRL }, want: "not issued by a certificate of the CA file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := f.config()
			tc.mod(&cfg)
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New error = %v, want %q", err, tc.want)
			}
			if tc.notExst != errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("errors.Is(err, fs.ErrNotExist) = %v, want %v", !tc.notExst, tc.notExst)
			}
		})
	}
}

func TestTLSHandshake(t *testing.T) {
	f := newFileFixture(t)
	broker, err := New(f.config())
	if err != nil {
		t.Fatal(err)
	}
	client := mustIssue(t, f.ca, "alice.mcollective", IssueOptions{})
	stranger := mustIssue(t, mustCA(t, "other CA", KeyECDSA), "alice.mcollective", IssueOptions{})

	tests := []struct {
		name    string
		client  *Issued
		wantErr bool
	}{
		{name: "same CA", client: client},
		{name: "client from another CA", client: stranger, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cp, err := NewFromPEM(tc.client.CertPEM, tc.client.KeyPEM, f.ca.CertPEM, Config{})
			if err != nil {
				t.Fatal(err)
			}
			err = handshake(t, broker, cp, "node1.mcollective")
			if (err != nil) != tc.wantErr {
				t.Fatalf("handshake error = %v, want error %v", err, tc.wantErr)
			}
		})
	}
	t.Run("wrong server name", func(t *testing.T) {
		cp, err := NewFromPEM(client.CertPEM, client.KeyPEM, f.ca.CertPEM, Config{})
		if err != nil {
			t.Fatal(err)
		}
		if err := handshake(t, broker, cp, "broker.example.net"); err == nil {
			t.Fatal("handshake accepted a certificate for another name")
		}
	})
}

// handshake runs one TLS connection from client to server over loopback
// and returns the client's or, failing that, the server's error.
func handshake(t *testing.T, server, client *Provider, serverName string) error {
	t.Helper()
	scfg, err := server.ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	ccfg, err := client.ClientTLS(serverName)
	if err != nil {
		t.Fatal(err)
	}
	if ccfg.MinVersion != tls.VersionTLS12 {
		t.Fatalf("client MinVersion = %x", ccfg.MinVersion)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", scfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srvErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			srvErr <- err
			return
		}
		defer c.Close()
		err = c.(*tls.Conn).Handshake()
		if err == nil {
			_, err = c.Write([]byte("ok"))
		}
		srvErr <- err
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), ccfg)
	if err == nil {
		// TLS 1.3 reports a refused client certificate on first read.
		buf := make([]byte, 2)
		_, err = io.ReadFull(c, buf)
		c.Close()
	}
	sErr := <-srvErr
	if err != nil {
		return err
	}
	return sErr
}

func TestServerTLSNeedsCertificate(t *testing.T) {
	p := verifier(t, mustCA(t, "test CA", KeyECDSA), Config{})
	if _, err := p.ServerTLS(); err == nil {
		t.Fatal("ServerTLS without a certificate succeeded")
	}
}

// TestConcurrentVerifyAndReload runs under -race: verification keeps
// working while the files are reloaded.
func TestConcurrentVerifyAndReload(t *testing.T) {
	f := newFileFixture(t)
	p, err := New(f.config())
	if err != nil {
		t.Fatal(err)
	}
	users := make([]*Issued, 4)
	sigs := make([][]byte, len(users))
	for i := range users {
		users[i] = mustIssue(t, f.ca, "user"+string(rune('a'+i))+".mcollective", IssueOptions{})
		sigs[i] = mustSign(t, users[i], testMsg)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				u := (g + i) % len(users)
				if _, err := p.VerifyRequest(testMsg, sigs[u], users[u].CertPEM, "choria="+users[u].Name); err != nil {
					errs <- err
					return
				}
			}
		}(g)
	}
	for i := 0; i < 20; i++ {
		if err := p.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
