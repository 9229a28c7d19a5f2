package broker_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tuttifleet/tutti/aaa/audit"
	"github.com/tuttifleet/tutti/connector/nats"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server/broker"
	"github.com/tuttifleet/tutti/server/broker/brokertest"
)

// nodeConn is a node's main connection as tuttid opens it: the NATS
// connector with the certificate's private inbox prefix.
func nodeConn(t *testing.T, e *authzEnv, name, inbox string) *nats.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := nats.Connect(ctx, nats.Config{Servers: []string{e.b.ClientURL()}, TLS: e.pki.ClientTLS(t, name),
		Name: name, Log: brokertest.Logger("nats"), InboxPrefix: inbox})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestNodeAuditOverItsConnection: a node's spool delivers its records
// over the node's one connection (no second one), each once and in
// order; another node can neither publish on its subject nor read the
// acknowledgements under its inbox, and a node connection without its
// private inbox prefix gets no acknowledgement (the broker refuses it
// any other inbox), so its records stay spooled.
func TestNodeAuditOverItsConnection(t *testing.T) {
	e := startAuthz(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := jetstream.New(e.mustRaw(t, "admin.ops"))
	if err != nil {
		t.Fatal(err)
	}
	stream := e.auditStream(t, ctx, admin)

	const node1, node2 = "node1.example.net", "node2.example.net"
	conn := nodeConn(t, e, node1, x509.InboxPrefix(node1))
	pub, err := audit.NewJetStreamOn(conn.NATS(), audit.JetStreamConfig{Subject: broker.NodeAuditPrefix + node1})
	if err != nil {
		t.Fatal(err)
	}
	spool, err := audit.NewSpool(audit.SpoolConfig{Dir: t.TempDir()}, pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	for i := range n {
		r := &audit.Record{RequestID: fmt.Sprintf("%s-%04d", node1, i), Agent: "rpcutil", Action: "ping",
			Caller: "choria=alice.mcollective", Decision: audit.Allow, Identity: node1}
		if err := spool.Audit(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	brokertest.Eventually(t, 20*time.Second, func() error {
		if st := spool.Stats(); st.Delivered != n || st.PendingBytes != 0 {
			return fmt.Errorf("spool %+v", st)
		}
		return nil
	})
	if err := spool.Close(); err != nil {
		t.Fatal(err)
	}
	if err := pub.Close(); err != nil {
		t.Fatal(err)
	}
	if _, connected := conn.Stats(); !connected {
		t.Fatal("closing the spool's publisher closed the node's connection")
	}
	if got := storedRecords(t, ctx, stream, broker.NodeAuditPrefix+node1); len(got) != n {
		t.Fatalf("%d records of %s stored, want %d", len(got), node1, n)
	} else {
		for i, r := range got {
			if want := fmt.Sprintf("%s-%04d", node1, i); r.RequestID != want {
				t.Fatalf("record %d is %s, want %s", i, r.RequestID, want)
			}
		}
	}

	// node2 forging a record of node1: refused, nothing stored
	nc2 := e.mustRaw(t, node2, natsgo.CustomInboxPrefix(x509.InboxPrefix(node2)))
	js2, err := jetstream.New(nc2)
	if err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithTimeout(ctx, time.Second)
	_, err = js2.Publish(pctx, broker.NodeAuditPrefix+node1, []byte(`{"request_id":"forged"}`))
	pcancel()
	if err == nil {
		t.Fatal("node2 stored a record on node1's subject")
	}
	if got := storedRecords(t, ctx, stream, broker.NodeAuditPrefix+node1); len(got) != n {
		t.Fatalf("%d records on node1's subject after node2's attempt, want %d", len(got), n)
	}
	// node2 reading node1's acknowledgements: refused
	if canSubscribe(t, nc2, x509.InboxPrefix(node1)+".>") || canSubscribe(t, nc2, "_INBOX.>") {
		t.Error("node2 may subscribe to node1's inbox")
	}
	brokertest.Eventually(t, 5*time.Second, func() error {
		for _, en := range e.hook.AllEntries() {
			if en.Message == "permission denied" && en.Data["certificate"] == node2 &&
				en.Data["subject"] == broker.NodeAuditPrefix+node1 && en.Data["operation"] == "publish" {
				return nil
			}
		}
		return errors.New("node2's publish on node1's audit subject not logged with its certificate")
	})

	// a node connection with nats.go's _INBOX: no acknowledgement arrives
	bare := nodeConn(t, e, node2, "")
	pub2, err := audit.NewJetStreamOn(bare.NATS(), audit.JetStreamConfig{Subject: broker.NodeAuditPrefix + node2, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer pub2.Close()
	if err := pub2.PublishRecord(ctx, []byte(`{"request_id":"x"}`)); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("publish without the private inbox prefix: %v, want ErrUnavailable", err)
	}
}

// storedRecords are the records on subject in the stream, in order.
func storedRecords(t *testing.T, ctx context.Context, stream jetstream.Stream, subject string) []audit.Event {
	t.Helper()
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Event
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != subject {
			continue
		}
		for _, l := range audit.MessageLines(m.Data) {
			r, err := audit.DecodeEvent(l)
			if err != nil {
				t.Fatalf("stream seq %d: %v", seq, err)
			}
			out = append(out, r)
		}
	}
	return out
}

// streamLines are the records in the stream, in order, each with its
// message (a writer's message holds one record a line).
func streamLines(t *testing.T, ctx context.Context, stream jetstream.Stream) []streamLine {
	t.Helper()
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []streamLine
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range audit.MessageLines(m.Data) {
			out = append(out, streamLine{seq: seq, subject: m.Subject, data: l})
		}
	}
	return out
}

type streamLine struct {
	seq     uint64
	subject string
	data    []byte
}
