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
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/tuttifleet/tutti/aaa/audit"
	"github.com/tuttifleet/tutti/connector/nats"
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

// newNodeAuditWriter is a node's spool as tuttid wires it: over the
// node's one broker connection (the NATS connector, its reconnection
// included), publishing to its own subject with the acknowledgements
// under its private inbox prefix.
func newNodeAuditWriter(t *testing.T, pki *brokertest.PKI, url, name string) *auditWriter {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := nats.Connect(ctx, nats.Config{Servers: []string{url}, TLS: pki.ClientTLS(t, name), Name: name,
		Log: brokertest.Logger("nats"), InboxPrefix: x509.InboxPrefix(name)})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := audit.NewJetStreamOn(conn.NATS(), audit.JetStreamConfig{Subject: broker.NodeAuditPrefix + name, Timeout: time.Second})
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
		conn.Close()
	})
	return &auditWriter{name: name, pub: pub, spool: spool}
}

// TestAuditStreamThroughOutage: the broker creates the audit stream;
// three nodes (over their one connection) and the signer spool their records to it, a record every
// 100 ms each, while the broker is stopped for 30 s (5 s with -short) and
// started again on the same store, and for a second after; every record
// arrives exactly once, in order per writer.
func TestAuditStreamThroughOutage(t *testing.T) {
	outage := 30 * time.Second
	if testing.Short() {
		outage = 5 * time.Second
	}
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
		writers = append(writers, newNodeAuditWriter(t, pki, b.ClientURL(), name))
	}
	ctx, cancel := context.WithTimeout(context.Background(), outage+60*time.Second)
	defer cancel()
	written := make([]int, len(writers))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for wi, w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					written[wi] = i
					return
				case <-tick.C:
				}
				r := &audit.Record{RequestID: fmt.Sprintf("%s-%04d", w.name, i), Agent: "rpcutil", Action: "ping",
					Caller: "choria=alice.mcollective", Decision: audit.Allow, Identity: w.name}
				if err := w.spool.Audit(ctx, r); err != nil {
					t.Errorf("%s record %d: %v", w.name, i, err)
					written[wi] = i
					return
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	b.Shutdown()
	time.Sleep(outage) // records keep being acted on and spooled
	for _, w := range writers {
		if st := w.spool.Stats(); st.PendingBytes == 0 || st.PublishErrors == 0 {
			t.Errorf("%s during the outage: %+v: the outage did not happen", w.name, st)
		}
	}
	b = brokertest.Start(t, cfg)
	waitAuditStream(t, b)
	time.Sleep(time.Second) // and go on while the backlog drains
	close(stop)
	wg.Wait()
	for _, w := range writers {
		brokertest.Eventually(t, 30*time.Second, func() error {
			if st := w.spool.Stats(); st.PendingBytes != 0 {
				return fmt.Errorf("%s: %d bytes not delivered", w.name, st.PendingBytes)
			}
			return nil
		})
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
	for _, m := range streamLines(t, ctx, stream) {
		seq := m.seq
		id := string(m.data)
		id = id[strings.Index(id, `"request_id":"`)+len(`"request_id":"`):]
		id = id[:strings.IndexByte(id, '"')]
		name, n := id[:strings.LastIndexByte(id, '-')], id[strings.LastIndexByte(id, '-')+1:]
		if want := fmt.Sprintf("%04d", next[name]); n != want {
			t.Fatalf("stream seq %d on %s: record %s of %s, want %s (a record lost, repeated or reordered)", seq, m.subject, n, name, want)
		}
		if (name == "aaa.privileged.mcollective") != strings.HasPrefix(m.subject, "tutti.aaa.audit.") {
			t.Errorf("record of %s on subject %s", name, m.subject)
		}
		next[name]++
	}
	for wi, w := range writers {
		// a record every 100 ms through the outage: on a loaded machine
		// a tick or two is late, so ask for half of them
		if next[w.name] != written[wi] || written[wi] < int(outage/(100*time.Millisecond))/2 {
			t.Errorf("%s: %d records in the stream, want the %d written", w.name, next[w.name], written[wi])
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

// TestAuditStreamSettingsChangeLogged: a broker started on a store whose
// audit stream has other settings (a changed configuration, or another
// broker of its cluster configured otherwise) says which before it
// updates the stream.
func TestAuditStreamSettingsChangeLogged(t *testing.T) {
	pki := brokertest.NewPKI(t, "ca")
	cfg := brokertest.Config(t, pki, "broker")
	cfg.JetStreamDir = t.TempDir()
	cfg.AuditStream.MaxAge = time.Hour
	b := brokertest.Start(t, cfg)
	waitAuditStream(t, b)
	b.Shutdown()

	log, hook := logtest.NewNullLogger()
	cfg.Log = log.WithField("component", "broker")
	cfg.AuditStream.MaxAge = 2 * time.Hour
	b = brokertest.Start(t, cfg)
	waitAuditStream(t, b)
	for _, e := range hook.AllEntries() {
		if strings.Contains(e.Message, "audit stream settings differ") && e.Data["changes"] == "max_age 1h0m0s → 2h0m0s" {
			return
		}
	}
	t.Fatalf("no warning naming the changed max_age; log: %v", hook.AllEntries())
}
