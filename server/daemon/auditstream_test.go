package daemon_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tuttifleet/tutti/aaa/audit"
	"github.com/tuttifleet/tutti/client"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server/broker"
	"github.com/tuttifleet/tutti/server/sdnotify/systemdtest"
)

// adminStream connects as admin.ops and returns the broker's audit
// stream once the broker has created it.
func (f *fleet) adminStream(t *testing.T) jetstream.Stream {
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
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		s, err := js.Stream(ctx, broker.DefaultAuditStreamName)
		if err == nil {
			return s
		}
		if ctx.Err() != nil {
			t.Fatalf("the broker did not create the audit stream: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// reply runs agent#action on the node and returns its reply.
func (f *fleet) reply(t *testing.T, agent, action string) *protocol.RPCReply {
	t.Helper()
	var got *protocol.RPCReply
	_, err := f.client.Do(context.Background(), client.Request{Agent: agent, Action: action, Filter: protocol.NewFilter(agent),
		Targets: []string{nodeName}, Expect: 1, Timeout: 10 * time.Second}, func(r client.Result) { got = r.RPC })
	if err != nil || got == nil {
		t.Fatalf("%s#%s: no reply (%v)", agent, action, err)
	}
	return got
}

const jetStreamBroker = "plugin.choria.network.stream.store = jetstream\n"

// TestNodeAuditStream: with plugin.tutti.audit.stream on, the node's
// record of each request reaches the audit stream the broker created,
// on the node's own subject, byte for byte the line of its audit file.
func TestNodeAuditStream(t *testing.T) {
	sd := systemdtest.Listen(t)
	f := startFleetWith(t, sd, jetStreamBroker, "plugin.tutti.audit.stream = 1\n")
	stream := f.adminStream(t)
	if code := f.call(t, "rpcutil", "ping"); code != protocol.OK {
		t.Fatalf("ping: %v", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// the request's outcome record follows its decision record
	var lines []string // the node's records in the stream (a message holds one or more)
	for {
		lines = subjectLines(ctx, t, stream, broker.NodeAuditPrefix+nodeName)
		if len(lines) >= 2 && strings.Contains(lines[len(lines)-1], `"type":"outcome"`) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no outcome record of %s in the audit stream: %q", nodeName, lines)
		}
		time.Sleep(50 * time.Millisecond)
	}
	m, d := lines[len(lines)-1], lines[len(lines)-2]
	if !strings.Contains(d, `"action":"ping"`) || !strings.Contains(d, `"decision":"allow"`) {
		t.Fatalf("stream record before the outcome %s: %s", m, d)
	}
	file := readFile(t, filepath.Join(f.dir, "audit.log"))
	for _, rec := range []string{d, m} {
		if !strings.Contains(file, rec+"\n") {
			t.Fatalf("stream record %s is not a line of the audit file:\n%s", rec, file)
		}
	}
	if mt := grep(f.scrape(t), "tutti_node_audit_spool_delivered_total"); mt == "" || strings.HasSuffix(mt, " 0") {
		t.Errorf("delivery not counted: %q", mt)
	}
	// one connection carries the requests, the audit records and the
	// CRL watch (plugin.tutti.security.crl_watch, on by default)
	cz, err := f.broker.Server().Connz(&server.ConnzOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cz.Conns {
		if strings.HasPrefix(c.Name, nodeName) {
			names = append(names, c.Name)
		}
	}
	if len(names) != 1 {
		t.Errorf("the node holds %d broker connections, want 1: %q", len(names), names)
	}
}

// TestNodeRefusesWhenTheSpoolIsFull: the stream captures no node
// subject, so nothing is acknowledged and the small spool fills; the
// node then refuses to run actions (fail closed by default) with a
// status that says why.
func TestNodeRefusesWhenTheSpoolIsFull(t *testing.T) {
	sd := systemdtest.Listen(t)
	f := startFleetWith(t, sd, jetStreamBroker+"plugin.tutti.broker.audit_stream.subjects = tutti.aaa.audit.>\n",
		"plugin.tutti.audit.stream = 1\nplugin.tutti.audit.spool_max_bytes = 2048\n")
	var r *protocol.RPCReply
	for i := range 20 {
		r = f.reply(t, "rpcutil", "ping")
		if r.StatusCode != protocol.OK {
			if i == 0 {
				t.Fatal("the first request was refused")
			}
			break
		}
	}
	if r.StatusCode != protocol.Aborted || !strings.Contains(r.StatusMsg, "could not be audited") {
		t.Fatalf("reply with a full spool: %v %q", r.StatusCode, r.StatusMsg)
	}
	if mt := grep(f.scrape(t), "tutti_node_audit_spool_full"); !strings.HasSuffix(mt, " 1") {
		t.Errorf("full spool not shown: %q", mt)
	}
	if !strings.Contains(f.log(t), "AUDIT SPOOL FULL") {
		t.Error("full spool not logged")
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// subjectLines returns the records on subject in the stream, in order:
// each message's lines.
func subjectLines(ctx context.Context, t *testing.T, stream jetstream.Stream, subject string) []string {
	t.Helper()
	info, err := stream.Info(ctx)
	if err != nil || info.State.Msgs == 0 {
		return nil
	}
	var out []string
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil || m.Subject != subject {
			continue
		}
		for _, l := range audit.MessageLines(m.Data) {
			out = append(out, string(l))
		}
	}
	return out
}

// TestNodeStopDeliversOpenBatch: a node that stops sends its spooled
// records at once (plugin.tutti.audit.stream_drain) instead of leaving
// them on its disk until it starts again, which a retired node never
// does: with a linger far longer than the test, the request's records
// are in the stream once RunNode has returned.
func TestNodeStopDeliversOpenBatch(t *testing.T) {
	sd := systemdtest.Listen(t)
	f := startFleetWith(t, sd, jetStreamBroker, "plugin.tutti.audit.stream = 1\nplugin.tutti.audit.stream_linger = 60\n")
	stream := f.adminStream(t)
	if code := f.call(t, "rpcutil", "ping"); code != protocol.OK {
		t.Fatalf("ping: %v", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if lines := subjectLines(ctx, t, stream, broker.NodeAuditPrefix+nodeName); len(lines) != 0 {
		t.Fatalf("records in the stream before the linger or the stop: %q", lines)
	}
	f.cancel()
	select {
	case err := <-f.done:
		if err != nil {
			t.Fatalf("RunNode: %v", err)
		}
		f.done <- nil // for the cleanup
	case <-ctx.Done():
		t.Fatal("RunNode did not return")
	}
	// the decision, the outcome, and the checkpoint the node signs as it stops
	lines := subjectLines(ctx, t, stream, broker.NodeAuditPrefix+nodeName)
	if len(lines) != 3 || !strings.Contains(lines[0], `"decision":"allow"`) || !strings.Contains(lines[1], `"type":"outcome"`) ||
		!strings.Contains(lines[2], `"type":"checkpoint"`) {
		t.Fatalf("after the stop the stream holds %q, want the decision, the outcome and the closing checkpoint", lines)
	}
}
