package daemon_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tuttifleet/tutti/client"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security/revocation"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server/broker"
	"github.com/tuttifleet/tutti/server/broker/brokertest"
	"github.com/tuttifleet/tutti/server/daemon"
	"github.com/tuttifleet/tutti/server/sdnotify/systemdtest"
)

// adminConn connects as admin.ops once the broker has made the CRL
// bucket.
func (f *fleet) adminConn(t *testing.T) *natsgo.Conn {
	t.Helper()
	p, err := x509.New(x509.Config{CertFile: filepath.Join(f.dir, "pki", "admin.ops.pem"),
		KeyFile: filepath.Join(f.dir, "pki", "admin.ops.key"), CAFile: filepath.Join(f.dir, "pki", "ca.pem")})
	if err != nil {
		t.Fatal(err)
	}
	tlsc, err := p.ClientTLS("")
	if err != nil {
		t.Fatal(err)
	}
	nc, err := natsgo.Connect(f.brokerHosts(), natsgo.Secure(tlsc))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	brokertest.Eventually(t, 20*time.Second, func() error {
		_, err := js.KeyValue(context.Background(), broker.CRLBucket)
		return err
	})
	return nc
}

var errServed = errors.New("the node served the request")

// revokedReply asks the node for rpcutil#ping and returns the status
// message of a "certificate revoked" refusal, or an error.
func (f *fleet) revokedReply() (string, error) {
	var msg string
	served := false
	_, err := f.client.Do(context.Background(), client.Request{Agent: "rpcutil", Action: "ping", Filter: protocol.NewFilter("rpcutil"),
		Targets: []string{nodeName}, Expect: 1, Timeout: 2 * time.Second}, func(r client.Result) {
		if r.State == client.Verified && r.RPC != nil && r.RPC.StatusCode == protocol.Aborted {
			msg = r.RPC.StatusMsg
		}
		served = served || r.RPC != nil && r.RPC.StatusCode == protocol.OK
	})
	if err != nil {
		return "", err
	}
	if served {
		return "", errServed
	}
	if !strings.HasPrefix(msg, protocol.CertificateRevokedMsg) {
		return "", errors.New("no certificate revoked refusal yet")
	}
	return msg, nil
}

// A tuttid node that was down when a revocation was published gets the
// CRL from the bucket when it starts again, and answers the revoked
// caller "certificate revoked" (signed, to the caller's reply subject)
// from its first request on: it reads the bucket before it subscribes.
// The broker's own watch is off here (crl_watch = false), as on a broker
// that does not enforce CRLs, so the caller can still reach the node.
func TestOfflineNodeAppliesTheLatestCRL(t *testing.T) {
	sd := systemdtest.Listen(t)
	f := startFleetWith(t, sd, jetStreamBroker+"plugin.tutti.security.crl_watch = false\n", "")
	admin := f.adminConn(t)
	if code := f.call(t, "rpcutil", "ping"); code != protocol.OK {
		t.Fatalf("ping before revocation: %v", code)
	}
	f.cancel()
	select {
	case err := <-f.done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("node did not stop")
	}
	res, err := x509.RevokeInDir(filepath.Join(f.dir, "pki"), x509.Revocation{Target: "tester.mcollective"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := revocation.Publish(ctx, admin, res.PEM); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { f.done <- daemon.RunNode(ctx2, f.conf) }()
	t.Cleanup(cancel2) // runs before startFleet's cleanup, which waits for f.done
	start := time.Now()
	var msg string
	brokertest.Eventually(t, 10*time.Second, func() error {
		msg, err = f.revokedReply()
		if errors.Is(err, errServed) {
			t.Fatal("the restarted node served the revoked caller before applying the CRL")
		}
		return err
	})
	t.Logf("restarted node refused %v after starting: %s", time.Since(start), msg)
	if !strings.Contains(msg, "tester.mcollective") {
		t.Errorf("refusal does not name the certificate: %s", msg)
	}
	if log := readFile(t, filepath.Join(f.dir, "node.log")); !strings.Contains(log, "CRL applied") {
		t.Errorf("node log has no CRL applied line:\n%s", log)
	}
}
