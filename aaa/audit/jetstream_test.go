package audit

import (
	"context"
	"errors"
	"strings"
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

// PublishRecordAsync's answers: stored (a duplicate too), refused by a
// full stream (with the stream's reason), no stream on the subject (at
// once, not after the timeout), and a closed auditor fails what is in
// flight.
func TestJetStreamAsyncAnswers(t *testing.T) {
	url := startJetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	createStream(ctx, t, url, jetstream.StreamConfig{Name: "AUDIT", Subjects: []string{"audit.>"}, MaxMsgs: 2, Discard: jetstream.DiscardNew})
	a, err := NewJetStream(JetStreamConfig{Servers: url, Subject: "audit.node", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	result := func(line string) error {
		t.Helper()
		res, err := a.PublishRecordAsync([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-res:
			return err
		case <-ctx.Done():
			t.Fatal("no result")
			return nil
		}
	}
	for _, line := range []string{`{"n":1}`, `{"n":2}`, `{"n":1}`} {
		if err := result(line); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
	}
	if err := result(`{"n":3}`); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "maximum messages exceeded") {
		t.Fatalf("full stream: %v", err)
	}

	none, err := NewJetStream(JetStreamConfig{Servers: url, Subject: "nostream.node", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	res, err := none.PublishRecordAsync([]byte(`{"n":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := <-res; !errors.Is(err, ErrUnavailable) || time.Since(t0) > 2*time.Second {
		t.Fatalf("no stream: %v after %v", err, time.Since(t0))
	}
	none.Close()
	if _, err := none.PublishRecordAsync([]byte(`{"n":2}`)); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestDecodeAckError(t *testing.T) {
	for in, want := range map[string]string{
		`{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}`: "stream refused the record: maximum messages exceeded (code 503, error code 10077)",
		`{"stream":"X"}`: `unexpected acknowledgement "{\"stream\":\"X\"}"`,
		`nope`:           `unreadable acknowledgement "nope"`,
	} {
		if got := decodeAckError([]byte(in)).Error(); !strings.HasPrefix(got, want) {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
}

// An acknowledgement counts as stored only when it says so; anything
// else is an error, never a panic.
func FuzzAckError(f *testing.F) {
	f.Add([]byte(`{"stream":"AUDIT","seq":1}`), "")
	f.Add([]byte(`{"stream":"AUDIT","seq":1,"duplicate":true}`), "")
	f.Add([]byte(`{"error":{"code":503,"err_code":10077,"description":"x"}}`), "")
	f.Add([]byte{}, "503")
	a := &JetStream{cfg: JetStreamConfig{Subject: "audit.node"}}
	f.Fuzz(func(t *testing.T, data []byte, status string) {
		m := &nats.Msg{Data: data, Header: nats.Header{}}
		if status != "" {
			m.Header.Set("Status", status)
		}
		err := a.ackError(m)
		if err == nil && (status != "" || !strings.Contains(string(data), `"seq"`) || strings.Contains(string(data), `"error"`)) {
			t.Fatalf("%q (status %q) taken as stored", data, status)
		}
		if err != nil && !errors.Is(err, ErrUnavailable) {
			t.Fatalf("%q: %v does not match ErrUnavailable", data, err)
		}
	})
}
