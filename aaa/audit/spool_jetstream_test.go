package audit

import (
	"context"
	"net"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func runJetStream(t *testing.T, port int, store string) *natsserver.Server {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{
		Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: store, NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	return ns
}

// TestSpoolJetStreamOutage spools records through a real JetStream
// while the server is stopped and started again: every record arrives
// once, in order, and a line published twice is stored once.
func TestSpoolJetStreamOutage(t *testing.T) {
	store := t.TempDir()
	ns := runJetStream(t, -1, store)
	t.Cleanup(func() { ns.Shutdown() })
	port := ns.Addr().(*net.TCPAddr).Port
	url := ns.ClientURL()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "AUDIT", Subjects: []string{"audit.>"},
		Duplicates: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := NewJetStream(JetStreamConfig{Servers: url, Subject: "audit.node1", Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()

	t.Run("a line published twice is stored once", func(t *testing.T) {
		l := []byte(spoolLine(-1))
		for range 2 {
			if err := pub.PublishRecord(ctx, l); err != nil {
				t.Fatal(err)
			}
		}
		info, err := stream.Info(ctx)
		if err != nil || info.State.Msgs != 1 {
			t.Fatalf("stream holds %+v, %v; want 1 message", info.State, err)
		}
		if err := stream.Purge(ctx); err != nil {
			t.Fatal(err)
		}
	})

	s, err := NewSpool(SpoolConfig{Dir: t.TempDir()}, pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 60
	for i := range n {
		if i == 20 {
			ns.Shutdown()
			ns.WaitForShutdown()
		}
		if err := s.Audit(ctx, numbered(i)); err != nil {
			t.Fatalf("record %d during the outage: %v", i, err)
		}
		if i >= 20 && i < 40 {
			time.Sleep(25 * time.Millisecond) // the outage lasts a while
		}
		if i == 40 {
			ns = runJetStream(t, port, store)
		}
	}
	waitFor(t, "every record delivered", func() bool { return s.Stats().PendingBytes == 0 })
	if s.Stats().PublishErrors == 0 {
		t.Fatal("no publish failed: the outage did not happen")
	}
	stream, err = js.Stream(ctx, "AUDIT")
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range MessageLines(m.Data) {
			got = append(got, string(l))
		}
	}
	if len(got) != n {
		t.Fatalf("stream holds %d records in %d messages, want %d exactly once", len(got), info.State.Msgs, n)
	}
	for i := range n {
		if got[i] != spoolLine(i) {
			t.Fatalf("stream record %d = %s, want %s", i, got[i], spoolLine(i))
		}
	}
}
