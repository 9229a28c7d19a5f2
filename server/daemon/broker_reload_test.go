package daemon_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	stdx509 "crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/internal/freeport"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server/daemon"
	"github.com/tuttifleet/tutti/server/sdnotify/systemdtest"
)

// writeTestCRL writes pki/crl.pem from the CA in pki, revoking certs.
func writeTestCRL(t *testing.T, pki string, certs ...*stdx509.Certificate) {
	t.Helper()
	ca, err := x509.LoadCADir(pki)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &stdx509.RevocationList{Number: big.NewInt(time.Now().UnixNano()),
		ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour)}
	for _, c := range certs {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			stdx509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: time.Now()})
	}
	der, err := stdx509.CreateRevocationList(rand.Reader, tmpl, ca.Cert, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(pki, "crl.pem"), string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})))
}

// brokerClient connects to url as admin.ops (which may use any subject,
// adminCertificate) with real TLS.
func brokerClient(t *testing.T, pki, url string) (*nats.Conn, error) {
	t.Helper()
	return brokerClientAs(t, pki, url, "admin.ops")
}

// brokerClientAs connects to url presenting name's certificate.
func brokerClientAs(t *testing.T, pki, url, name string, opts ...nats.Option) (*nats.Conn, error) {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(pki, name+".pem"), filepath.Join(pki, name+".key"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(pki, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := stdx509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	nc, err := nats.Connect(url, append([]nats.Option{nats.Secure(&tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, RootCAs: pool}),
		nats.Timeout(5 * time.Second), nats.NoReconnect()}, opts...)...)
	if err == nil {
		t.Cleanup(nc.Close)
	}
	return nc, err
}

// presented is the serial number of the certificate the broker showed nc.
func presented(t *testing.T, nc *nats.Conn) *big.Int {
	t.Helper()
	cs, err := nc.TLSConnectionState()
	if err != nil {
		t.Fatal(err)
	}
	return cs.PeerCertificates[0].SerialNumber
}

// roundTrip checks that messages from pub reach sub.
func roundTrip(t *testing.T, sub, pub *nats.Conn, subject string) {
	t.Helper()
	s, err := sub.SubscribeSync(subject)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Unsubscribe()
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}
	// across a route, interest reaches the other broker asynchronously:
	// publish until a message arrives
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := pub.Publish(subject, []byte("hello")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.NextMsg(100 * time.Millisecond); err == nil {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("no message on %s: %v", subject, err)
		}
	}
}

// TestBrokerCertificateRotationOnSIGHUP rotates the broker's certificate
// and CRL on disk under a running `tuttid broker`: new connections see
// the new files after SIGHUP, connections already up stay, and broken
// files or an invalid config keep the old state with a clear log line.
func TestBrokerCertificateRotationOnSIGHUP(t *testing.T) {
	sd := systemdtest.Listen(t)
	dir := t.TempDir()
	newPKI(t, dir)
	pki := filepath.Join(dir, "pki")
	writeTestCRL(t, pki)
	port, mport := freeport.Must(t), freeport.Must(t)
	conf := filepath.Join(dir, "broker.conf")
	logPath := filepath.Join(dir, "broker.log")
	confText := "identity = broker.example.net\nlogfile = " + logPath + "\n" + security("broker.example.net") +
		"plugin.tutti.security.crl = pki/crl.pem\n" +
		fmt.Sprintf("plugin.choria.network.listen_address = 127.0.0.1\nplugin.choria.network.client_port = %d\n", port) +
		fmt.Sprintf("plugin.tutti.metrics_port = %d\n", mport) + adminCertificate
	write(t, conf, confText)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- daemon.RunBroker(ctx, conf) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	sd.WaitFor(t, "READY=1")
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	hup := func() {
		t.Helper()
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		sd.WaitFor(t, "RELOADING=1")
		sd.WaitFor(t, "READY=1")
	}
	brokerLog := func() string {
		b, err := os.ReadFile(logPath)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	old, err := brokerClient(t, pki, url)
	if err != nil {
		t.Fatal(err)
	}
	firstSerial := presented(t, old)

	// rotate: a new certificate and key for the same name
	ca, err := x509.LoadCADir(pki)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := ca.Issue("broker.example.net", x509.IssueOptions{SANs: []string{"localhost", "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := rotated.WriteFiles(pki); err != nil {
		t.Fatal(err)
	}
	hup()
	fresh, err := brokerClient(t, pki, url)
	if err != nil {
		t.Fatalf("connect after rotation: %v", err)
	}
	if got := presented(t, fresh); got.Cmp(rotated.Cert.SerialNumber) != 0 {
		t.Fatalf("new connection got certificate serial %v, want the rotated %v", got, rotated.Cert.SerialNumber)
	}
	if got := presented(t, old); got.Cmp(firstSerial) != 0 || !old.IsConnected() || old.Stats().Reconnects != 0 {
		t.Fatalf("existing connection disturbed: serial %v, connected %v", got, old.IsConnected())
	}
	roundTrip(t, old, fresh, "rotation.check")
	if l := brokerLog(); !strings.Contains(l, "reload complete") {
		t.Fatalf("no reload complete in the log:\n%s", l)
	}

	// a key that does not match the certificate: refused, rotated one stays
	foreign, err := ca.Issue("other.example.net", x509.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(pki, "broker.example.net.key"), string(foreign.KeyPEM))
	hup()
	if l := grep(brokerLog(), "reload incomplete"); !strings.Contains(l, "private key does not belong") || !strings.Contains(l, "previous ones kept") {
		t.Fatalf("log line for a broken key: %q", l)
	}
	again, err := brokerClient(t, pki, url)
	if err != nil {
		t.Fatalf("connect after a refused certificate: %v", err)
	}
	if got := presented(t, again); got.Cmp(rotated.Cert.SerialNumber) != 0 {
		t.Fatalf("after a broken key the broker presents serial %v, want the rotated %v", got, rotated.Cert.SerialNumber)
	}

	// a CRL revoking the client's certificate: new connections with it
	// are refused, the ones up stay
	write(t, filepath.Join(pki, "broker.example.net.key"), string(rotated.KeyPEM))
	testerPEM, err := os.ReadFile(filepath.Join(pki, "admin.ops.pem"))
	if err != nil {
		t.Fatal(err)
	}
	tester, err := x509.ParseCertificatesPEM(testerPEM)
	if err != nil {
		t.Fatal(err)
	}
	writeTestCRL(t, pki, tester[0])
	hup()
	if _, err := brokerClient(t, pki, url); err == nil {
		t.Fatal("a revoked client certificate connected after the CRL reload")
	}
	roundTrip(t, old, fresh, "revocation.check")

	// an invalid configuration file is refused as a whole
	write(t, conf, confText+"logfiel = broker.log\n")
	hup()
	if l := grep(brokerLog(), "reload refused"); !strings.Contains(l, "keeping the old one") || !strings.Contains(l, "logfiel") {
		t.Fatalf("log line for an invalid file: %q", l)
	}

	// a node certificate reading another node's requests: refused,
	// logged with certificate, role and subject, and counted
	node, err := brokerClientAs(t, pki, url, nodeName, nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.SubscribeSync("mcollective.node.other.example.net"); err != nil {
		t.Fatal(err)
	}
	if err := node.Flush(); err != nil {
		t.Fatal(err)
	}
	if l := grep(brokerLog(), "permission denied"); !strings.Contains(l, nodeName) || !strings.Contains(l, `"role":"node"`) ||
		!strings.Contains(l, "mcollective.node.other.example.net") {
		t.Errorf("permission denied log line %q lacks certificate, role or subject", l)
	}

	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", mport, daemon.MetricsPath))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`tutti_daemon_reloads_total{result="ok"} 2`, `tutti_daemon_reloads_total{result="error"} 2`,
		`tutti_broker_permission_denied_total{operation="subscribe",role="node"} 1`} {
		if !hasLine(string(m), want) {
			t.Errorf("metrics lack %q:\n%s", want, grep(string(m), "reloads"))
		}
	}
}

// startClusterBroker starts a broker named name from a config file in
// dir with a cluster port and peers; it stops when the test ends.
func startClusterBroker(t *testing.T, dir, name string, port, peerPort int, peers string) (*daemon.Broker, string) {
	t.Helper()
	conf := filepath.Join(dir, name+".conf")
	write(t, conf, "identity = "+name+"\nlogfile = discard\n"+security("broker.example.net")+
		fmt.Sprintf("plugin.choria.network.listen_address = 127.0.0.1\nplugin.choria.network.client_port = %d\n", port)+
		fmt.Sprintf("plugin.choria.network.peer_port = %d\nplugin.choria.network.peers = %s\n", peerPort, peers)+
		"plugin.tutti.broker.link_certificates = ^broker\\.example\\.net$\n"+adminCertificate)
	cfg, _, err := config.LoadBroker(conf)
	if err != nil {
		t.Fatal(err)
	}
	l := logrus.New()
	l.SetOutput(io.Discard)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := daemon.StartBrokerDaemon(ctx, cfg, logrus.NewEntry(l))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Shutdown)
	return b, conf
}

func waitRoutes(t *testing.T, bs ...*daemon.Broker) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok := true
		for _, b := range bs {
			ok = ok && b.NumRoutes() > 0
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("brokers did not form routes in 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBrokerClusterWithRotatedCertificates: routes form with the
// reloadable TLS configuration (nats-server uses it as a TLS server for
// routes dialed in and as a client for routes it dials), and form again
// with rotated certificates after a reload.
func TestBrokerClusterWithRotatedCertificates(t *testing.T) {
	dir := t.TempDir()
	newPKI(t, dir)
	pki := filepath.Join(dir, "pki")
	pa, pb := freeport.Must(t), freeport.Must(t)
	a, aConf := startClusterBroker(t, dir, "broker-a", freeport.Must(t), pa, "")
	b, _ := startClusterBroker(t, dir, "broker-b", freeport.Must(t), pb, fmt.Sprintf("nats://127.0.0.1:%d", pa))
	waitRoutes(t, a, b)
	onA, err := brokerClient(t, pki, a.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	onB, err := brokerClient(t, pki, b.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, onA, onB, "cluster.before")

	// rotate the certificate both brokers use; reload a, and start a new
	// b that dials a with the new files
	ca, err := x509.LoadCADir(pki)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := ca.Issue("broker.example.net", x509.IssueOptions{SANs: []string{"localhost", "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := rotated.WriteFiles(pki); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Reload(aConf); err != nil {
		t.Fatal(err)
	}
	b.Shutdown()
	b2, _ := startClusterBroker(t, dir, "broker-b", freeport.Must(t), pb, fmt.Sprintf("nats://127.0.0.1:%d", pa))
	waitRoutes(t, a, b2)
	onB2, err := brokerClient(t, pki, b2.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	if got := presented(t, onB2); got.Cmp(rotated.Cert.SerialNumber) != 0 {
		t.Fatalf("new broker b presents serial %v, want the rotated %v", got, rotated.Cert.SerialNumber)
	}
	roundTrip(t, onA, onB2, "cluster.after")
}
