package broker_test

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tuttifleet/tutti/aaa/audit"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server/broker"
	"github.com/tuttifleet/tutti/server/broker/brokertest"
)

// auditWriter is one node's (or the signer's) spool to the broker's
// audit stream, wired as tuttid and tutti-aaa wire it: its certificate,
// its private inbox prefix, its own subject.
type auditWriter struct {
	name  string
	pub   *audit.JetStream
	spool *audit.Spool
}

func newAuditWriter(t *testing.T, pki *brokertest.PKI, url, name, subject string) *auditWriter {
	t.Helper()
	pub, err := audit.NewJetStream(audit.JetStreamConfig{Servers: url, Subject: subject, TLS: pki.ClientTLS(t, name),
		InboxPrefix: x509.InboxPrefix(name), Timeout: time.Second, RetryConnect: true, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	spool, err := audit.NewSpool(audit.SpoolConfig{Dir: t.TempDir()}, pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		spool.Close()
		pub.Close()
	})
	return &auditWriter{name: name, pub: pub, spool: spool}
}

// TestAuditStreamThroughOutage: the broker creates the audit stream;
// three nodes and the signer spool their records to it while the broker
// is stopped for a few seconds and started again on the same store;
// every record arrives exactly once, in order per writer.
func TestAuditStreamThroughOutage(t *testing.T) {
	pki := brokertest.NewPKI(t, "ca")
	cfg := brokertest.Config(t, pki, "broker")
	cfg.JetStreamDir = t.TempDir()
	cfg.Authorization = broker.Authorization{Admins: []string{`^admin\.ops$`}}
	b := brokertest.Start(t, cfg)
	waitAuditStream(t, b)
	u, err := url.Parse(b.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ClientPort, _ = strconv.Atoi(u.Port())

	writers := []*auditWriter{newAuditWriter(t, pki, b.ClientURL(), "aaa.privileged.mcollective", "tutti.aaa.audit.site")}
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("node%d.example.net", i)
		writers = append(writers, newAuditWriter(t, pki, b.ClientURL(), name, broker.NodeAuditPrefix+name))
	}
	const perWriter = 60
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				r := &audit.Record{RequestID: fmt.Sprintf("%s-%04d", w.name, i), Agent: "rpcutil", Action: "ping",
					Caller: "choria=alice.mcollective", Decision: audit.Allow, Identity: w.name}
				if err := w.spool.Audit(ctx, r); err != nil {
					t.Errorf("%s record %d: %v", w.name, i, err)
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	b.Shutdown()
	time.Sleep(5 * time.Second) // records keep being acted on and spooled
	b = brokertest.Start(t, cfg)
	waitAuditStream(t, b)
	wg.Wait()
	for _, w := range writers {
		brokertest.Eventually(t, 60*time.Second, func() error {
			if st := w.spool.Stats(); st.PendingBytes != 0 {
				return fmt.Errorf("%s: %d bytes not delivered", w.name, st.PendingBytes)
			}
			return nil
		})
		if w.spool.Stats().PublishErrors == 0 {
			t.Errorf("%s never failed to publish: the outage did not happen", w.name)
		}
	}

	admin, err := jetstream.New(mustConnect(t, pki, b.ClientURL(), "admin.ops"))
	if err != nil {
		t.Fatal(err)
	}
	stream, err := admin.Stream(ctx, broker.DefaultAuditStreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c := info.Config; !c.DenyDelete || c.Duplicates != broker.DefaultAuditStreamDuplicates || c.Discard != jetstream.DiscardNew ||
		len(c.Subjects) != 2 {
		t.Errorf("audit stream configuration %+v", c)
	}
	if err := stream.DeleteMsg(ctx, info.State.FirstSeq); err == nil {
		t.Error("a record was deleted from the audit stream")
	}
	next := map[string]int{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		id := string(m.Data)
		id = id[strings.Index(id, `"request_id":"`)+len(`"request_id":"`):]
		id = id[:strings.IndexByte(id, '"')]
		name, n := id[:strings.LastIndexByte(id, '-')], id[strings.LastIndexByte(id, '-')+1:]
		if want := fmt.Sprintf("%04d", next[name]); n != want {
			t.Fatalf("stream seq %d on %s: record %s of %s, want %s (a record lost, repeated or reordered)", seq, m.Subject, n, name, want)
		}
		if (name == "aaa.privileged.mcollective") != strings.HasPrefix(m.Subject, "tutti.aaa.audit.") {
			t.Errorf("record of %s on subject %s", name, m.Subject)
		}
		next[name]++
	}
	for _, w := range writers {
		if next[w.name] != perWriter {
			t.Errorf("%s: %d records in the stream, want %d", w.name, next[w.name], perWriter)
		}
	}
}

func mustConnect(t *testing.T, pki *brokertest.PKI, url, name string) *natsgo.Conn {
	t.Helper()
	nc, err := natsgo.Connect(url, natsgo.Secure(pki.ClientTLS(t, name)), natsgo.CustomInboxPrefix(x509.InboxPrefix(name)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func waitAuditStream(t *testing.T, b *broker.Broker) {
	t.Helper()
	select {
	case <-b.AuditStreamReady():
	case <-time.After(20 * time.Second):
		t.Fatal("the broker did not create the audit stream")
	}
}
