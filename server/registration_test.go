package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server"
	"github.com/tuttifleet/tutti/server/facts"
	"github.com/tuttifleet/tutti/server/version"
)

// captureConn records what the node publishes.
type captureConn struct {
	nopConn
	mu    sync.Mutex
	dests []connector.Destination
	msgs  [][]byte
}

func (c *captureConn) Publish(_ context.Context, d connector.Destination, b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dests = append(c.dests, d)
	c.msgs = append(c.msgs, append([]byte(nil), b...))
	return nil
}

func (c *captureConn) published() ([]connector.Destination, [][]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]connector.Destination(nil), c.dests...), append([][]byte(nil), c.msgs...)
}

type regRig struct {
	node     *server.Node
	conn     *captureConn
	verifier *x509.Provider // a client of the same CA
	ca       *x509.CA
}

func newRegRig(t testing.TB) *regRig {
	t.Helper()
	ca, err := x509.NewCA("reg CA", x509.KeyECDSA, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	r := &regRig{conn: &captureConn{}, ca: ca}
	nodeP := providerFor(t, ca, "node1.example.net")
	r.verifier = providerFor(t, ca, "inventory.mcollective")
	l := logrus.New()
	l.SetOutput(io.Discard)
	r.node, err = server.New(server.Options{
		Settings:  server.Settings{Identity: "node1.example.net", Collectives: []string{"mcollective", "uk"}},
		Connector: r.conn, Signer: nodeP, Verifier: nodeP,
		Facts: facts.Static(map[string]any{"role": "web"}, []string{"base", "role::web"}), Log: logrus.NewEntry(l),
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func providerFor(t testing.TB, ca *x509.CA, name string) *x509.Provider {
	t.Helper()
	is, err := ca.Issue(name, x509.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := x509.NewFromPEM(is.CertPEM, is.KeyPEM, ca.CertPEM, x509.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (r *regRig) publish(t testing.TB) []byte {
	t.Helper()
	if err := r.node.PublishRegistration(context.Background(), "uk"); err != nil {
		t.Fatal(err)
	}
	dests, msgs := r.conn.published()
	return msgs[len(dests)-1]
}

func TestRegistrationIsSignedAndVerifies(t *testing.T) {
	r := newRegRig(t)
	msg := r.publish(t)
	dests, _ := r.conn.published()
	want := connector.Destination{Kind: connector.Broadcast, Collective: "uk", Agent: server.RegistrationAgent}
	if dests[0] != want {
		t.Fatalf("published to %+v, want %+v", dests[0], want)
	}
	reg, err := server.VerifyRegistration(msg, r.verifier, time.Now())
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if reg.Identity != "node1.example.net" || reg.Version != version.Version || reg.Classes != 2 {
		t.Errorf("registration %+v", reg)
	}
	if len(reg.Agents) == 0 || reg.Agents[len(reg.Agents)-1] != "rpcutil" || len(reg.Collectives) != 2 {
		t.Errorf("agents %v collectives %v", reg.Agents, reg.Collectives)
	}
	if len(reg.FactsSHA256) != 64 {
		t.Errorf("facts digest %q", reg.FactsSHA256)
	}
	// the same facts give the same digest
	if again, _ := server.VerifyRegistration(r.publish(t), r.verifier, time.Now()); again.FactsSHA256 != reg.FactsSHA256 {
		t.Errorf("digest changed without a facts change: %s vs %s", again.FactsSHA256, reg.FactsSHA256)
	}
}

// layers returns the secure request and request of a registration message.
func layers(t *testing.T, msg []byte) (*protocol.SecureRequest, *protocol.Request) {
	t.Helper()
	tr, err := protocol.DecodeTransport(msg, 0)
	if err != nil {
		t.Fatal(err)
	}
	sr, err := protocol.DecodeSecureRequest(tr.Data)
	if err != nil {
		t.Fatal(err)
	}
	req, err := protocol.DecodeRequest(sr.Message)
	if err != nil {
		t.Fatal(err)
	}
	return sr, req
}

// reseal re-encodes a registration message, signing req with signer
// (nil: keep the old signature over the new bytes).
func reseal(t *testing.T, sr *protocol.SecureRequest, req *protocol.Request, signer *x509.Provider) []byte {
	t.Helper()
	raw, err := protocol.EncodeRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	out := &protocol.SecureRequest{Message: raw, Signature: sr.Signature, PubCert: sr.PubCert}
	if signer != nil {
		if out.Signature, err = signer.Sign(raw); err != nil {
			t.Fatal(err)
		}
		out.PubCert = signer.CertificatePEM()
	}
	sec, err := protocol.EncodeSecureRequest(out)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := protocol.EncodeTransport(&protocol.Transport{Data: sec, Sender: req.SenderID})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestRegistrationRefusals(t *testing.T) {
	r := newRegRig(t)
	msg := r.publish(t)
	sr, req := layers(t, msg)
	other, err := x509.NewCA("other CA", x509.KeyECDSA, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		msg  func() []byte
		now  time.Time
		kind protocol.Kind
	}{
		{"changed data keeps old signature", func() []byte {
			cp := *req
			cp.Message = base64.StdEncoding.EncodeToString([]byte(`{"identity":"node1.example.net","agents":["evil"]}`))
			return reseal(t, sr, &cp, nil)
		}, time.Now(), protocol.KindSignature},
		{"sender is not the certificate", func() []byte {
			cp := *req
			cp.SenderID = "node2.example.net"
			return reseal(t, sr, &cp, nil)
		}, time.Now(), protocol.KindCaller},
		{"signed by an untrusted CA", func() []byte {
			return reseal(t, sr, req, providerFor(t, other, "node1.example.net"))
		}, time.Now(), protocol.KindCertificate},
		{"data names another node", func() []byte {
			cp := *req
			cp.Message = base64.StdEncoding.EncodeToString([]byte(`{"identity":"node9.example.net"}`))
			return reseal(t, sr, &cp, providerFor(t, r.ca, "node1.example.net"))
		}, time.Now(), protocol.KindMalformed},
		{"not a registration", func() []byte {
			cp := *req
			cp.Agent = "rpcutil"
			return reseal(t, sr, &cp, providerFor(t, r.ca, "node1.example.net"))
		}, time.Now(), protocol.KindAgent},
		{"too old", func() []byte { return msg }, time.Now().Add(2 * time.Minute), protocol.KindTTL},
		{"not JSON", func() []byte { return []byte("registration") }, time.Now(), protocol.KindMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reg, err := server.VerifyRegistration(c.msg(), r.verifier, c.now)
			if err == nil {
				t.Fatalf("accepted: %+v", reg)
			}
			if got := protocol.KindOf(err); got != c.kind {
				t.Fatalf("kind %q, want %q (%v)", got, c.kind, err)
			}
		})
	}
}

func TestRunRegistrationRepeats(t *testing.T) {
	r := newRegRig(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var results []error
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.node.RunRegistration(ctx, server.RegistrationOptions{Collective: "mcollective", Interval: 20 * time.Millisecond,
			OnPublish: func(err error) { mu.Lock(); results = append(results, err); mu.Unlock() }})
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(results)
		mu.Unlock()
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d registrations in 5s with a 20ms interval", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if err := errors.Join(results...); err != nil {
		t.Fatal(err)
	}
	_, msgs := r.conn.published()
	for _, m := range msgs {
		if _, err := server.VerifyRegistration(m, r.verifier, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
}

func FuzzVerifyRegistration(f *testing.F) {
	r := newRegRig(f)
	if err := r.node.PublishRegistration(context.Background(), "mcollective"); err != nil {
		f.Fatal(err)
	}
	_, msgs := r.conn.published()
	f.Add(msgs[0])
	f.Add([]byte(`{"protocol":"choria:transport:1","data":"e30=","headers":{}}`))
	now := time.Now()
	f.Fuzz(func(t *testing.T, msg []byte) {
		reg, err := server.VerifyRegistration(msg, r.verifier, now)
		if err != nil {
			return
		}
		// anything accepted is the node's own, unaltered data
		if reg.Identity != "node1.example.net" {
			t.Fatalf("accepted registration for %q", reg.Identity)
		}
		if b, _ := json.Marshal(reg); !bytes.Contains(b, []byte("node1.example.net")) {
			t.Fatal("identity lost")
		}
	})
}
