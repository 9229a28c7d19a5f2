package server_test

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/aaa/actionpolicy"
	"github.com/tuttifleet/tutti/aaa/audit"
	_ "github.com/tuttifleet/tutti/agents/rpcutil"
	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/internal/procstat"
	"github.com/tuttifleet/tutti/security/replay"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server"
	"github.com/tuttifleet/tutti/server/facts"
)

// nopConn is a connector that goes nowhere: Process does not publish.
type nopConn struct{}

func (nopConn) Publish(context.Context, connector.Destination, []byte) error { return nil }
func (nopConn) Subscribe(connector.Destination, connector.Handler) (connector.Subscription, error) {
	return nil, nil
}
func (nopConn) NewReplyTo(c, id, r string) string { return connector.ReplyTo(c, id, r) }
func (nopConn) Flush(context.Context) error       { return nil }
func (nopConn) Close() error                      { return nil }

// rpcutilSubject is the broadcast subject of rpcutil, where the rig's
// requests arrive.
var rpcutilSubject = agentSubject("rpcutil")

// agentSubject is the broadcast subject of agent in mcollective.
func agentSubject(agent string) connector.Destination {
	return connector.Destination{Kind: connector.Broadcast, Collective: "mcollective", Agent: agent}
}

type rig struct {
	node   *server.Node
	client *x509.Provider
	nodeP  *x509.Provider // the node's signer and verifier
	ca     *x509.CA
}

func newRig(tb testing.TB, kt x509.KeyType, authz server.Authorizer, aud audit.Auditor) *rig {
	tb.Helper()
	ca, err := x509.NewCA("bench CA", x509.KeyECDSA, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	mk := func(name string) *x509.Provider {
		is, err := ca.Issue(name, x509.IssueOptions{KeyType: kt})
		if err != nil {
			tb.Fatal(err)
		}
		p, err := x509.NewFromPEM(is.CertPEM, is.KeyPEM, ca.CertPEM, x509.Config{})
		if err != nil {
			tb.Fatal(err)
		}
		return p
	}
	nodeP, clientP := mk("node1.example.net"), mk("rip.mcollective")
	l := logrus.New()
	l.SetOutput(io.Discard)
	n, err := server.New(server.Options{
		Settings:  server.Settings{Identity: "node1.example.net", Collectives: []string{"mcollective"}, MaxTTL: time.Hour},
		Connector: nopConn{}, Signer: nodeP, Verifier: nodeP, Replay: replay.New(0), Authorizer: authz, Auditor: aud,
		Facts: facts.Static(map[string]any{"role": "web"}, []string{"base"}), Log: logrus.NewEntry(l),
	})
	if err != nil {
		tb.Fatal(err)
	}
	return &rig{node: n, client: clientP, nodeP: nodeP, ca: ca}
}

// request returns a fresh signed rpcutil#ping transport message.
func (r *rig) request(tb testing.TB) []byte {
	msg, _ := protocol.EncodeRPCRequest("rpcutil", "ping", nil)
	req := &protocol.Request{ID: protocol.NewRequestID(), SenderID: "rip", CallerID: "choria=rip.mcollective",
		Collective: "mcollective", Agent: "rpcutil", TTL: 60, Time: time.Now().Unix(), Filter: protocol.NewFilter("rpcutil"), Message: msg}
	raw, err := protocol.EncodeRequest(req)
	if err != nil {
		tb.Fatal(err)
	}
	sig, err := r.client.Sign(raw)
	if err != nil {
		tb.Fatal(err)
	}
	sec, _ := protocol.EncodeSecureRequest(&protocol.SecureRequest{Message: raw, Signature: sig, PubCert: r.client.CertificatePEM()})
	tr, _ := protocol.EncodeTransport(&protocol.Transport{Data: sec, ReplyTo: connector.ReplyTo("mcollective", req.CallerID, req.ID), Sender: "rip"})
	return tr
}

func TestPipelineRepliesSigned(t *testing.T) {
	for _, kt := range []x509.KeyType{x509.KeyRSA, x509.KeyECDSA, x509.KeyEd25519} {
		r := newRig(t, kt, nil, nil)
		out := r.node.Process(context.Background(), rpcutilSubject, r.request(t))
		if out.Reply == nil {
			t.Fatalf("%s: %v", kt, out.Dropped)
		}
		tr, _ := protocol.DecodeTransport(out.Reply, 0)
		sr, err := protocol.DecodeSecureReply(tr.Data)
		if err != nil || len(sr.Signature) == 0 {
			t.Fatalf("%s: reply not signed: %v", kt, err)
		}
		if err := r.client.VerifyReply(sr.Message, sr.Signature, sr.PubCert, "node1.example.net"); err != nil {
			t.Fatalf("%s: reply does not verify: %v", kt, err)
		}
		if err := r.client.VerifyReply(sr.Message, sr.Signature, sr.PubCert, "node2.example.net"); err == nil {
			t.Fatalf("%s: reply verified for the wrong node", kt)
		}
		rep, err := protocol.DecodeReply(sr.Message)
		if err != nil {
			t.Fatal(err)
		}
		body, err := protocol.DecodeRPCReply([]byte(rep.Message))
		if err != nil || body.StatusCode != protocol.OK || !regexp.MustCompile(`^\{"pong":\d{10}\}$`).Match(body.Data) {
			t.Fatalf("%s: ping reply body %s (%v)", kt, rep.Message, err)
		}
	}
}

// BenchmarkPipeline is one request in → signed reply out on a node, with
// full security (verify, replay cache, filter, reply signature). Making
// the next request (client-side signing) is excluded from the timing.
func BenchmarkPipeline(b *testing.B) {
	for _, kt := range []x509.KeyType{x509.KeyECDSA, x509.KeyEd25519, x509.KeyRSA} {
		b.Run(string(kt), func(b *testing.B) { benchPipeline(b, newRig(b, kt, nil, nil)) })
	}
}

// BenchmarkPipelineAAA adds an ActionPolicy decision and a JSON audit
// record per request.
func BenchmarkPipelineAAA(b *testing.B) {
	dir := b.TempDir()
	if err := writePolicy(dir); err != nil {
		b.Fatal(err)
	}
	quiet := logrus.New()
	quiet.SetOutput(io.Discard)
	authz, err := actionpolicy.New(actionpolicy.Config{Dir: dir, DefaultName: "default"}, logrus.NewEntry(quiet))
	if err != nil {
		b.Fatal(err)
	}
	aud, err := audit.NewFile(audit.FileConfig{Path: dir + "/audit.log"}, logrus.NewEntry(quiet))
	if err != nil {
		b.Fatal(err)
	}
	defer aud.Close()
	benchPipeline(b, newRig(b, x509.KeyECDSA, authz, aud))
}

// benchPipeline signs requests in batches with the timer stopped: a
// StopTimer/StartTimer pair per request costs two runtime.ReadMemStats
// (stop-the-world) and would dominate the profile. Besides ns/op it
// reports cpu-ns/op, the process CPU time per request, which is what the
// node's cost is and which, unlike ns/op, does not grow while the
// benchmark waits for a core on a shared machine.
func benchPipeline(b *testing.B, r *rig) {
	const batch = 256
	ctx := context.Background()
	msgs := make([][]byte, 0, batch)
	var cpu time.Duration // CPU spent in Process, batches of signing excluded
	b.ReportAllocs()
	b.ResetTimer()
	start := procstat.SelfCPU()
	for i := 0; i < b.N; i++ {
		if len(msgs) == 0 {
			b.StopTimer()
			cpu += procstat.SelfCPU() - start
			for j := 0; j < batch; j++ {
				msgs = append(msgs, r.request(b))
			}
			start = procstat.SelfCPU()
			b.StartTimer()
		}
		msg := msgs[len(msgs)-1]
		msgs = msgs[:len(msgs)-1]
		if out := r.node.Process(ctx, rpcutilSubject, msg); out.Reply == nil {
			b.Fatal(out.Dropped)
		}
	}
	b.StopTimer()
	if cpu += procstat.SelfCPU() - start; cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

func writePolicy(dir string) error {
	var body string
	for i := 0; i < 19; i++ {
		body += fmt.Sprintf("allow\tchoria=user%d.mcollective\t*\t*\t*\n", i)
	}
	body += "allow\tchoria=rip.mcollective\tping inventory\trole=web\t*\n"
	return writeFile(dir+"/rpcutil.policy", "policy default deny\n"+body)
}
