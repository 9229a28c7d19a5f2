package signer_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/tuttifleet/tutti/aaa/audit"
	"github.com/tuttifleet/tutti/aaa/signer"
	"github.com/tuttifleet/tutti/aaa/signer/signertest"
)

// startJetStream runs a real nats-server with JetStream on a random port.
func startJetStream(t *testing.T) string {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	return ns.ClientURL()
}

func TestJetStreamAudit(t *testing.T) {
	url := startJetStream(t)
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "AAA_AUDIT", Subjects: []string{"tutti.aaa.audit.>"}})
	if err != nil {
		t.Fatal(err)
	}

	env := signertest.Start(t, signertest.Options{Configure: func(c *signer.Config) {
		c.Auditors = []string{"logfile", "jetstream"}
		c.JetStreamAuditor.Servers = url
		c.JetStreamAuditor.Topic = "tutti.aaa.audit.test"
	}})
	tok, seed := env.Login(t, "bob")
	allowed := signertest.Request(t, "rpcutil", "ping", "up=bob", time.Now(), 60)
	if _, code := env.Sign(t, tok, allowed, seed); code != "" {
		t.Fatal(code)
	}
	if _, code := env.Sign(t, tok, signertest.Request(t, "puppet", "disable", "up=bob", time.Now(), 60), seed); code == "" {
		t.Fatal("puppet#disable was signed")
	}

	// the records reach the stream through the spool, in the background
	for {
		info, err := stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs >= 2 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	var recs []signer.AuditRecord
	for seq := uint64(1); seq <= 2; seq++ {
		msg, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("stream message %d: %v", seq, err)
		}
		var r signer.AuditRecord
		if err := json.Unmarshal(msg.Data, &r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if r := recs[0]; r.Protocol != signer.AuditProtocol || r.Action != "allow" || r.CallerID != "up=bob" || len(r.RequestID) != 32 || r.Site != "test" {
		t.Errorf("allow record %+v", r)
	}
	if r := recs[1]; r.Action != "deny" || r.ErrorCode != signer.CodeNotAllowed || r.Reason == "" {
		t.Errorf("deny record %+v", r)
	}
	fileRecs := env.AuditRecords(t)
	if len(fileRecs) != 2 || fileRecs[0].RequestID != recs[0].RequestID {
		t.Errorf("file and stream disagree: %+v", fileRecs)
	}
}

// When a record can be neither sent to the stream nor spooled (the
// spool is full), the signer refuses to sign (internal_error, "could not
// be audited"), logs the failure at Error level with the request id,
// and the same request may be sent again once auditing works.
func TestJetStreamAuditFailureRefusesTheSign(t *testing.T) {
	url := startJetStream(t) // no stream captures the topic: nothing is ever acknowledged
	slog, hook := logtest.NewNullLogger()
	env := signertest.Start(t, signertest.Options{Log: slog.WithField("component", "aaa"), Configure: func(c *signer.Config) {
		c.Auditors = []string{"logfile", "jetstream"}
		c.JetStreamAuditor.Servers = url
		c.JetStreamAuditor.Topic = "tutti.aaa.audit.nostream"
		c.JetStreamAuditor.SpoolMaxBytes = 100 // smaller than one record
	}})
	tok, seed := env.Login(t, "bob")
	req := signertest.Request(t, "rpcutil", "ping", "up=bob", time.Now(), 60)
	if _, code := env.Sign(t, tok, req, seed); code != signer.CodeInternal {
		t.Fatalf("signing with a full audit spool: code %q, want %s", code, signer.CodeInternal)
	}
	recs := env.AuditRecords(t)
	if len(recs) != 1 {
		t.Fatalf("file auditor holds %d records, want 1", len(recs))
	}
	var logged bool
	for _, en := range hook.AllEntries() {
		err, _ := en.Data[logrus.ErrorKey].(error)
		if en.Level == logrus.ErrorLevel && en.Data["request_id"] == recs[0].RequestID && errors.Is(err, audit.ErrSpoolFull) {
			logged = true
		}
	}
	if !logged {
		t.Fatalf("the failed audit was not logged: %v", hook.AllEntries())
	}
	if _, code := env.Sign(t, tok, req, seed); code == signer.CodeReplayed {
		t.Fatal("a request refused for its audit is then refused as a replay")
	}
}
