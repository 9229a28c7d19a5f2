package broker_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	stdx509 "crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tuttifleet/tutti/security/revocation"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server/broker"
	"github.com/tuttifleet/tutti/server/broker/brokertest"
)

func waitCRLBucket(t *testing.T, b *broker.Broker) {
	t.Helper()
	select {
	case <-b.CRLBucketReady():
	case <-time.After(20 * time.Second):
		t.Fatal("CRL bucket not created")
	}
}

func signCRL(t *testing.T, ca *x509.CA, number int64, serials ...*big.Int) []byte {
	t.Helper()
	tmpl := &stdx509.RevocationList{Number: big.NewInt(number), ThisUpdate: time.Now(), NextUpdate: time.Now().Add(time.Hour)}
	for _, s := range serials {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, stdx509.RevocationListEntry{SerialNumber: s, RevocationTime: time.Now()})
	}
	der, err := stdx509.CreateRevocationList(rand.Reader, tmpl, ca.Cert, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

// The broker creates the CRL bucket; the admin role may write it, nodes
// and clients may only read and watch it.
func TestCRLBucketOnlyAdminWrites(t *testing.T) {
	e := startAuthz(t, nil)
	waitCRLBucket(t, e.b)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	crl := signCRL(t, e.pki.CA, 1, big.NewInt(42))
	for _, name := range []string{"node1.example.net", "alice.mcollective", "aaa.privileged.mcollective"} {
		nc := e.mustRaw(t, name, natsgo.CustomInboxPrefix(x509.InboxPrefix(name)))
		short, c := context.WithTimeout(ctx, time.Second)
		if _, _, err := revocation.Publish(short, nc, crl); err == nil {
			t.Errorf("%s wrote the CRL bucket", name)
		}
		c()
		js, _ := jetstream.New(nc)
		short, c = context.WithTimeout(ctx, time.Second)
		if err := js.DeleteKeyValue(short, revocation.CRLBucket); err == nil {
			t.Errorf("%s deleted the CRL bucket", name)
		}
		c()
	}
	admin := e.mustRaw(t, "admin.ops", natsgo.CustomInboxPrefix(x509.InboxPrefix("admin.ops")))
	if _, _, err := revocation.Publish(ctx, admin, crl); err != nil {
		t.Fatalf("admin: %v", err)
	}
	for _, name := range []string{"node1.example.net", "alice.mcollective"} {
		nc := e.mustRaw(t, name, natsgo.CustomInboxPrefix(x509.InboxPrefix(name)))
		got, err := revocation.ListCRLs(ctx, nc)
		if err != nil || len(got) != 1 || got[0].Serial.Int64() != 42 {
			t.Errorf("%s reads the bucket: %v %v", name, got, err)
		}
	}
	short, c := context.WithTimeout(context.Background(), 5*time.Second)
	defer c()
	if tokens, err := revocation.ListTokens(short, admin); err != nil || len(tokens) != 0 {
		t.Errorf("token bucket: %v %v, want it created empty by the broker", tokens, err)
	}
	// tutti-aaa's bucket: its privileged certificate puts entries as the
	// contract says; clients and nodes may not.
	for _, name := range []string{"node1.example.net", "alice.mcollective"} {
		nc := e.mustRaw(t, name, natsgo.CustomInboxPrefix(x509.InboxPrefix(name)))
		js, _ := jetstream.New(nc)
		c1, c := context.WithTimeout(ctx, time.Second)
		if kv, err := js.KeyValue(c1, revocation.TokenBucket); err == nil {
			if _, err := kv.PutString(c1, "jti.forged", `{"jti":"forged"}`); err == nil {
				t.Errorf("%s wrote the token revocation bucket", name)
			}
		}
		c()
	}
	aaaName := "aaa.privileged.mcollective"
	aaa := e.mustRaw(t, aaaName, natsgo.CustomInboxPrefix(x509.InboxPrefix(aaaName)))
	ajs, _ := jetstream.New(aaa)
	kv, err := ajs.KeyValue(short, revocation.TokenBucket)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"jti.t1":   `{"user":"alice","jti":"t1","revoked_at":"2026-12-06T10:00:00Z","by":"admin","reason":"lost laptop"}`,
		"user.bob": `{"user":"bob","revoked_at":"2026-12-06T09:00:00Z","by":"admin","reason":"left"}`,
		"jti.gone": `{"user":"carol","jti":"gone","revoked_at":"2026-12-06T08:00:00Z"}`,
	} {
		if _, err := kv.PutString(short, k, v); err != nil {
			t.Fatal(err)
		}
	}
	c2, c := context.WithTimeout(ctx, time.Second)
	if err := ajs.DeleteKeyValue(c2, revocation.TokenBucket); err == nil {
		t.Error("the privileged certificate deleted the token revocation bucket")
	}
	c()
	if err := kv.Delete(short, "jti.gone"); err != nil {
		t.Fatal(err)
	}
	tokens, err := revocation.ListTokens(short, admin)
	if err != nil || len(tokens) != 2 || tokens[0].Key != "user.bob" || tokens[1].Reason != "lost laptop" {
		t.Errorf("token revocations %+v %v", tokens, err)
	}
	for _, v := range e.hook.AllEntries() {
		if v.Message == "permission denied" && v.Data["certificate"] == "node1.example.net" {
			if s, _ := v.Data["subject"].(string); s != "" && s[:4] == "$JS." && !isWrite(s) && !strings.Contains(s, revocation.TokenBucket) {
				t.Errorf("node1 was refused a read: %s", s)
			}
		}
	}
}

func isWrite(subject string) bool {
	for _, w := range []string{"$KV.", "$JS.API.STREAM.DELETE", "$JS.API.STREAM.CREATE", "$JS.API.STREAM.UPDATE"} {
		if len(subject) >= len(w) && subject[:len(w)] == w {
			return true
		}
	}
	return false
}

// A certificate revoked while connected is disconnected by CloseRevoked
// and refused at its next TLS handshake.
func TestCloseRevokedConnections(t *testing.T) {
	pki := brokertest.NewPKI(t, "ca")
	certPEM, keyPEM, err := pki.IssuePEM("broker", "127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	p, err := x509.NewFromPEM(certPEM, keyPEM, pki.CA.CertPEM, x509.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tlsc, err := p.BrokerTLS()
	if err != nil {
		t.Fatal(err)
	}
	cfg := brokertest.Config(t, pki, "broker")
	cfg.TLS = tlsc
	b := brokertest.Start(t, cfg)
	mallory, err := pki.CA.Issue("mallory.mcollective", x509.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kp, err := tls.X509KeyPair(mallory.CertPEM, mallory.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	mtls := &tls.Config{Certificates: []tls.Certificate{kp}, RootCAs: pki.Pool, MinVersion: tls.VersionTLS12}
	connect := func() (*natsgo.Conn, error) {
		return natsgo.Connect(b.ClientURL(), natsgo.Secure(mtls.Clone()), natsgo.NoReconnect(), natsgo.Timeout(5*time.Second))
	}
	nc, err := connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	alice, err := natsgo.Connect(b.ClientURL(), natsgo.Secure(pki.ClientTLS(t, "alice.mcollective")), natsgo.NoReconnect())
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	if _, err := p.ApplyCRL(signCRL(t, pki.CA, 1, mallory.Cert.SerialNumber)); err != nil {
		t.Fatal(err)
	}
	if n := b.CloseRevoked(p.CheckChain); n != 1 {
		t.Fatalf("closed %d connections, want 1", n)
	}
	brokertest.Eventually(t, 5*time.Second, func() error {
		if !nc.IsClosed() {
			return errors.New("mallory still connected")
		}
		return nil
	})
	if !alice.IsConnected() {
		t.Fatal("alice was disconnected")
	}
	if c, err := connect(); err == nil {
		c.Close()
		t.Fatal("a revoked certificate connected")
	}
}
