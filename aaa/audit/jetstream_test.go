package audit

import (
	"context"
	"errors"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startJetStream runs a real nats-server with JetStream on a random port.
func startJetStream(t testing.TB) string {
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

// createStream connects to url (closed when the test ends) and creates
// the stream cfg describes.
func createStream(ctx context.Context, t testing.TB, url string, cfg jetstream.StreamConfig) (jetstream.JetStream, jetstream.Stream) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.CreateStream(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return js, stream
}

func TestJetStream(t *testing.T) {
	url := startJetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, stream := createStream(ctx, t, url, jetstream.StreamConfig{Name: "AUDIT", Subjects: []string{"audit.>"}})

	a, err := NewJetStream(JetStreamConfig{Servers: url, Subject: "audit.node", Name: "test", InboxPrefix: "_INBOX_test"})
	if err != nil {
		t.Fatal(err)
	}
	r := rec("js1")
	r.Timestamp = time.Date(2026, 11, 22, 14, 31, 25, 0, time.UTC)
	if err := a.Audit(ctx, r); err != nil {
		t.Fatalf("publish with acknowledgement: %v", err)
	}
	msg, err := stream.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := r.AppendJSON(nil); string(msg.Data) != string(want) {
		t.Fatalf("stored %s\nwant %s", msg.Data, want)
	}

	t.Run("no stream is unavailable", func(t *testing.T) {
		b, err := NewJetStream(JetStreamConfig{Servers: url, Subject: "nostream.node", Timeout: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if err := b.Audit(ctx, rec("lost")); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Audit without a stream = %v, want ErrUnavailable", err)
		}
	})
	t.Run("encode error is not unavailable", func(t *testing.T) {
		err := a.Audit(ctx, badEntry{})
		if err == nil || errors.Is(err, ErrUnavailable) {
			t.Fatalf("Audit = %v", err)
		}
	})
	t.Run("closed", func(t *testing.T) {
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		if err := a.Audit(ctx, rec("late")); !errors.Is(err, ErrClosed) {
			t.Fatalf("Audit after Close = %v", err)
		}
	})
	if _, err := NewJetStream(JetStreamConfig{Servers: url}); err == nil {
		t.Fatal("no subject accepted")
	}
}
