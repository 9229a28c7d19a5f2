package signer_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tuttifleet/tutti/aaa/signer"
	"github.com/tuttifleet/tutti/aaa/signer/signertest"
)

// outageBroker is a nats-server with JetStream on a fixed loopback port
// and store, so it can be stopped and started again like a real broker.
type outageBroker struct {
	port  int
	store string
	ns    *natsserver.Server
}

func newOutageBroker(t *testing.T) *outageBroker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	b := &outageBroker{port: port, store: t.TempDir()}
	t.Cleanup(b.stop)
	return b
}

func (b *outageBroker) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", b.port) }

func (b *outageBroker) start(t *testing.T) {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{
		Host: "127.0.0.1", Port: b.port, JetStream: true, StoreDir: b.store, NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	b.ns = ns
}

func (b *outageBroker) stop() {
	if b.ns != nil {
		b.ns.Shutdown()
		b.ns.WaitForShutdown()
		b.ns = nil
	}
}

// stream connects to the broker and returns the audit stream, created
// when missing.
func (b *outageBroker) stream(ctx context.Context, t *testing.T) jetstream.Stream {
	t.Helper()
	nc, err := nats.Connect(b.url())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "AAA_AUDIT", Subjects: []string{"tutti.aaa.audit.>"}})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// signBurst signs n fresh requests one after the other on one
// connection and returns the rate and the slowest sign.
func signBurst(t *testing.T, env *signertest.Env, tok string, seed []byte, n int) (perSec float64, slowest time.Duration) {
	t.Helper()
	start := time.Now()
	for range n {
		s := time.Now()
		if _, code := env.Sign(t, tok, signertest.Request(t, "rpcutil", "ping", "up=bob", time.Now(), 60), seed); code != "" {
			t.Fatalf("sign: refused %s", code)
		}
		slowest = max(slowest, time.Since(s))
	}
	return float64(n) / time.Since(start).Seconds(), slowest
}

// fileLines reads the audit log's lines (signing records and the
// chain's own).
func fileLines(t *testing.T, env *signertest.Env) [][]byte {
	t.Helper()
	data, err := os.ReadFile(env.Config.LogfileAuditor.Logfile)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimSpace(data), []byte("\n"))
}

// streamHolds waits until the stream holds at least want records and
// returns all of them in stream order.
func streamHolds(ctx context.Context, t *testing.T, st jetstream.Stream, want int) [][]byte {
	t.Helper()
	for {
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if int(info.State.Msgs) >= want {
			out := make([][]byte, 0, info.State.Msgs)
			for seq := uint64(1); seq <= info.State.LastSeq; seq++ {
				m, err := st.GetMsg(ctx, seq)
				if err != nil {
					t.Fatalf("stream message %d: %v", seq, err)
				}
				out = append(out, m.Data)
			}
			return out
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the stream holds %d records, want %d", info.State.Msgs, want)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// tutti-aaa starts while its broker is down, signs at full rate through
// the outage (each record fsynced to the spool), and once the broker is
// back the stream receives every record exactly once, in the order of
// the audit log. The error metric counts no loss: nothing was lost.
func TestSignerThroughBrokerOutage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := newOutageBroker(t)
	b.start(t) // the stream exists from an earlier life of the broker
	b.stream(ctx, t)
	b.stop()

	env := signertest.Start(t, signertest.Options{Configure: func(c *signer.Config) {
		c.Auditors = []string{"logfile", "jetstream"}
		c.JetStreamAuditor.Servers = b.url()
		c.JetStreamAuditor.Topic = "tutti.aaa.audit.test"
	}})
	tok, seed := env.Login(t, "bob")
	const n = 100
	outage, slowOutage := signBurst(t, env, tok, seed, n)
	disconnected := abortedSigns(t, env, tok, seed, 10)

	b.start(t)
	st := b.stream(ctx, t)
	lines := fileLines(t, env)
	got := streamHolds(ctx, t, st, len(lines))
	normal, slowNormal := signBurst(t, env, tok, seed, n)
	t.Logf("signs/s on one connection: %.0f during the outage (slowest %v), %.0f with the broker up (slowest %v)",
		outage, slowOutage.Round(time.Millisecond), normal, slowNormal.Round(time.Millisecond))
	// Before the spool, each sign waited for a 2 s ack timeout (0.5/s).
	// The bound is loose: the machine running the tests is shared.
	if outage < normal/5 || slowOutage > time.Second {
		t.Errorf("signing stalls during the outage: %.0f/s (slowest %v), %.0f/s with the broker up", outage, slowOutage, normal)
	}

	// exactly once, in order: the stream's records are the log's lines
	seen := map[string]bool{}
	for i, m := range got {
		if seen[string(m)] {
			t.Fatalf("stream record %d is a duplicate: %s", i+1, m)
		}
		seen[string(m)] = true
		if i < len(lines) && !bytes.Equal(m, lines[i]) {
			t.Fatalf("stream record %d differs from log line %d:\n%s\n%s", i+1, i+1, m, lines[i])
		}
	}
	var signed int
	ids := map[string]bool{}
	for _, r := range env.AuditRecords(t) {
		signed++
		ids[r.RequestID] = true
	}
	if signed < n+len(disconnected) {
		t.Fatalf("the log holds %d signing records, want at least %d", signed, n+len(disconnected))
	}
	for _, id := range disconnected {
		if !ids[id] {
			t.Errorf("request %s, whose client disconnected, has no audit record", id)
		}
	}
	mfs, err := env.Service.Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, mf := range mfs {
		if mf.GetName() == "tutti_aaa_audit_errors_total" {
			found = true
			if v := mf.GetMetric()[0].GetCounter().GetValue(); v != 0 {
				t.Errorf("audit_errors_total = %v after an outage that lost nothing", v)
			}
		}
	}
	if !found {
		t.Error("no tutti_aaa_audit_errors_total metric")
	}
}

// abortedSigns sends n sign requests whose clients close the connection
// as soon as the request is written, and returns the request ids. The
// signer goes on with each: signing and the audit record do not depend
// on the client staying.
func abortedSigns(t *testing.T, env *signertest.Env, tok string, seed []byte, n int) []string {
	t.Helper()
	tc := env.Client.Transport.(*http.Transport).TLSClientConfig
	var ids []string
	for range n {
		req := signertest.Request(t, "rpcutil", "ping", "up=bob", time.Now(), 60)
		var r struct {
			Envelope struct {
				ID string `json:"requestid"`
			} `json:"envelope"`
		}
		if err := json.Unmarshal(req, &r); err != nil || r.Envelope.ID == "" {
			t.Fatalf("request id: %v", err)
		}
		body, err := jsonBytes(signertest.SignBody(tok, req, seed))
		if err != nil {
			t.Fatal(err)
		}
		conn, err := tls.Dial("tcp", strings.TrimPrefix(env.URL, "https://"), tc)
		if err != nil {
			t.Fatal(err)
		}
		w := bufio.NewWriter(conn)
		fmt.Fprintf(w, "POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", signer.SignPath, len(body))
		w.Write(body)
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		conn.Close()
		ids = append(ids, r.Envelope.ID)
	}
	// the handlers finish on their own; wait for their records
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		found := 0
		for _, rec := range env.AuditRecords(t) {
			for _, id := range ids {
				if rec.RequestID == id {
					found++
				}
			}
		}
		if found == n {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return ids
}
