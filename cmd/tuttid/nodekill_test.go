package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tuttifleet/tutti/aaa/audit"
	"github.com/tuttifleet/tutti/client"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server/broker"
)

// installRecorder installs the external agent recorder in dir: its
// run action appends the request id to executed (one write, so whole
// lines), then works for a moment and answers.
func installRecorder(t *testing.T, dir, executed string) {
	t.Helper()
	writeFile(t, filepath.Join(dir, "recorder.json"), `{"metadata": {"name": "recorder", "description": "records each execution",
	  "author": "tutti", "license": "Apache-2.0", "version": "1.0.0", "url": "https://example.net", "timeout": 10},
	  "actions": [{"action": "run", "description": "records the request id", "input": {},
	    "output": {"done": {"description": "done", "display_as": "Done", "type": "string"}}}]}`)
	writeFile(t, filepath.Join(dir, "recorder"), "#!/bin/sh\ncat >/dev/null\necho \"$TUTTI_REQUEST_ID\" >>"+executed+
		"\nsleep 0.05\necho '{\"done\":\"yes\"}'\n")
	if err := os.Chmod(filepath.Join(dir, "recorder"), 0o755); err != nil {
		t.Fatal(err)
	}
}

// executedIDs reads the recorder's file: the request ids it ran, each
// once.
func executedIDs(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	ids := strings.Fields(string(b))
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Errorf("request %s executed twice", id)
		}
		seen[id] = true
	}
	return ids
}

// TestNodeKillNoExecutionUnaudited: a tuttid node (a real process)
// running an external agent that records each execution is SIGKILLed
// while 8 callers keep sending it requests. Every request the agent
// executed has its decision record in the node's audit file, read right
// after the kill, and in its audit spool: the restarted node delivers
// the spool to the broker's audit stream, which then holds a decision
// record of every executed request. Nothing executes twice. Twice:
// with the stream taking the records while the node runs, and with the
// broker running without JetStream until after the kill (every record
// waits in the spool; the broker is then restarted with its store).
func TestNodeKillNoExecutionUnaudited(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a broker and a node as processes and kills the node")
	}
	t.Run("delivering", func(t *testing.T) { testNodeKill(t, false) })
	t.Run("stream-outage", func(t *testing.T) { testNodeKill(t, true) })
}

func testNodeKill(t *testing.T, outage bool) {
	const node = "node1.example.net"
	f := newFaultFleet(t, []string{node}, !outage, "recorder")
	broker := f.startBroker(t)
	executed := filepath.Join(f.dir, "executed")
	installRecorder(t, filepath.Join(f.dir, "agents"), executed)
	conf := f.nodeConf(t, node, "plugin.tutti.agents_dir = agents\nplugin.tutti.audit.stream = true\n")
	n := startTuttid(t, f.dir, node, "--config", conf)
	c := f.client(t)
	waitUntil(t, 30*time.Second, "the node to answer", func() bool { return runRecorder(c, node, time.Second) == protocol.OK })

	var answered atomic.Int64
	stop := make(chan struct{})
	var callers sync.WaitGroup
	for range 8 {
		callers.Add(1)
		go func() {
			defer callers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if runRecorder(c, node, 2*time.Second) == protocol.OK {
					answered.Add(1)
				} else {
					time.Sleep(20 * time.Millisecond) // the node is gone
				}
			}
		}()
	}
	waitUntil(t, 30*time.Second, "200 executions", func() bool { return len(executedIDs(t, executed)) >= 200 })
	n.kill(t)
	close(stop)
	callers.Wait()
	time.Sleep(200 * time.Millisecond) // agent children die with the node (parent-death signal)
	ran := executedIDs(t, executed)
	t.Logf("node SIGKILLed after %d executions (%d answered)", len(ran), answered.Load())

	decided := decisions(t, f.auditFile(node))[node]
	for _, id := range ran {
		if e, ok := decided[id]; !ok {
			t.Errorf("request %s was executed but has no decision record in the audit file", id)
		} else if e.Decision != audit.Allow || e.Agent != "recorder" {
			t.Errorf("request %s was executed under the record %+v", id, e)
		}
	}

	// the restarted node delivers its spool: the stream holds a decision
	// of every executed request
	if outage {
		broker.kill(t)
		f.writeBrokerConf(t, true)
		f.startBroker(t)
	}
	stream := adminAuditStream(t, f)
	missing := 0
	for id := range streamDecisions(t, stream) {
		if decided[id].RequestID == "" {
			t.Errorf("the stream holds a decision on %s the audit file lacks", id)
		}
	}
	inStream := streamDecisions(t, stream)
	for _, id := range ran {
		if !inStream[id] {
			missing++
		}
	}
	t.Logf("at the kill, %d executed requests' decisions were in the spool only", missing)
	if outage && missing != len(ran) {
		t.Errorf("during the stream outage, %d of %d decisions reached the stream", len(ran)-missing, len(ran))
	}
	startTuttid(t, f.dir, node+"-restarted", "--config", conf)
	waitUntil(t, 20*time.Second, "the stream to hold every executed request's decision", func() bool {
		inStream := streamDecisions(t, stream)
		for _, id := range ran {
			if !inStream[id] {
				return false
			}
		}
		return true
	})
	if again := executedIDs(t, executed); len(again) != len(ran) {
		t.Errorf("the restarted node executed %d more requests", len(again)-len(ran))
	}
}

// runRecorder runs recorder#run on node and returns the reply's status,
// or -1 without a reply.
func runRecorder(c *client.Client, node string, timeout time.Duration) protocol.StatusCode {
	code := protocol.StatusCode(-1)
	_, _ = c.Do(context.Background(), client.Request{Agent: "recorder", Action: "run", Filter: protocol.NewFilter("recorder"),
		Targets: []string{node}, Expect: 1, Timeout: timeout}, func(r client.Result) {
		if r.State == client.Verified && r.RPC != nil {
			code = r.RPC.StatusCode
		}
	})
	return code
}

// adminAuditStream connects as admin.ops and returns the broker's audit
// stream.
func adminAuditStream(t *testing.T, f *faultFleet) jetstream.Stream {
	t.Helper()
	pki := filepath.Join(f.dir, "pki")
	p, err := x509.New(x509.Config{CertFile: filepath.Join(pki, "admin.ops.pem"), KeyFile: filepath.Join(pki, "admin.ops.key"),
		CAFile: filepath.Join(pki, "ca.pem")})
	if err != nil {
		t.Fatal(err)
	}
	tlsc, err := p.ClientTLS("")
	if err != nil {
		t.Fatal(err)
	}
	nc, err := natsgo.Connect(f.url, natsgo.Secure(tlsc))
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
	// a broker just (re)started with a store creates its stream a moment
	// after it accepts connections
	for {
		s, err := js.Stream(ctx, broker.DefaultAuditStreamName)
		if err == nil {
			return s
		}
		if !errors.Is(err, jetstream.ErrStreamNotFound) || ctx.Err() != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// streamDecisions returns the request ids of the decision records in
// the stream, failing on a record decided twice or one that does not
// parse.
func streamDecisions(t *testing.T, s jetstream.Stream) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range audit.MessageLines(m.Data) {
			e, err := audit.DecodeEvent(l)
			if err != nil {
				t.Fatalf("stream record %d does not parse: %v\n%s", seq, err, l)
			}
			if e.Kind != audit.KindDecision {
				continue
			}
			if got[e.RequestID] {
				t.Fatalf("request %s is decided twice in the stream", e.RequestID)
			}
			got[e.RequestID] = true
		}
	}
	return got
}
