package stomp

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3/frame"
)

// fakeBroker is the far end of a pipe speaking STOMP frames, for the
// protocol corner cases a real ActiveMQ never produces on demand.
type fakeBroker struct {
	r *frame.Reader
	w *frame.Writer
}

func pipeSession(t *testing.T) (*session, *frame.Reader, *fakeBroker) {
	t.Helper()
	c, b := net.Pipe()
	t.Cleanup(func() { c.Close(); b.Close() })
	s := &session{broker: "stomp+ssl://fake:61614", nc: c, pending: map[string]*op{}, dead: make(chan struct{}),
		deliver: func(string, *frame.Frame) {}}
	s.w = frame.NewWriter(c)
	return s, frame.NewReader(c), &fakeBroker{r: frame.NewReader(b), w: frame.NewWriter(b)}
}

// answer reads one frame and replies with resp (nil: no reply).
func (f *fakeBroker) answer(t *testing.T, resp *frame.Frame) *frame.Frame {
	t.Helper()
	got, err := readFrame(f.r)
	if err != nil {
		t.Errorf("fake broker read: %v", err)
		return nil
	}
	if resp != nil {
		if err := f.w.Write(resp); err != nil {
			t.Errorf("fake broker write: %v", err)
		}
	}
	return got
}

func TestHandshake(t *testing.T) {
	opts := dialOptions{vhost: "mcollective", heartBeat: time.Second}
	tests := []struct {
		name    string
		resp    *frame.Frame
		err     string
		readTO  time.Duration
		writeTO time.Duration
	}{
		{"STOMP 1.2 with heart-beats", frame.New(frame.CONNECTED, frame.Version, "1.2", frame.HeartBeat, "2000,500"), "", 2 * time.Second, time.Second},
		{"broker sends none", frame.New(frame.CONNECTED, frame.Version, "1.1", frame.HeartBeat, "0,0"), "", 0, 0},
		{"STOMP 1.0", frame.New(frame.CONNECTED), `broker speaks STOMP ""; tutti needs 1.1 or 1.2`, 0, 0},
		{"bad heart-beat", frame.New(frame.CONNECTED, frame.Version, "1.2", frame.HeartBeat, "soon"), `bad heart-beat "soon"`, 0, 0},
		{"login refused", frame.New(frame.ERROR, frame.Message, "User name [u] or password is invalid."),
			`stomp+ssl://fake:61614: broker refused the connection (login "u"): User name [u] or password is invalid.`, 0, 0},
		{"nonsense", frame.New(frame.RECEIPT, frame.ReceiptId, "1"), "expected CONNECTED, got RECEIPT", 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, r, fb := pipeSession(t)
			done := make(chan *frame.Frame, 1)
			go func() { done <- fb.answer(t, tc.resp) }()
			err := s.handshake(r, Broker{User: "u", Password: "p"}, opts)
			connect := <-done
			if connect == nil || connect.Command != frame.CONNECT || connect.Header.Get(frame.AcceptVersion) != "1.1,1.2" ||
				connect.Header.Get(frame.Login) != "u" || connect.Header.Get(frame.Host) != "mcollective" || connect.Header.Get(frame.HeartBeat) != "1000,1000" {
				t.Errorf("CONNECT frame %+v", connect)
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("handshake error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.readTO != tc.readTO || s.writeTO != tc.writeTO {
				t.Errorf("heart-beats read %v write %v, want %v %v", s.readTO, s.writeTO, tc.readTO, tc.writeTO)
			}
		})
	}
}

// An ERROR naming a receipt fails that operation only; an ERROR naming
// none ends the session and fails everything pending.
func TestErrorsSettleTheirOperation(t *testing.T) {
	s, r, fb := pipeSession(t)
	go s.readLoop(r)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	refused := make(chan error, 1)
	go func() {
		f := fb.answer(t, nil)
		_ = fb.w.Write(frame.New(frame.ERROR, frame.ReceiptId, f.Header.Get(frame.Receipt), frame.Message, "User x is not authorized to write to: topic://c.a.agent"))
		refused <- nil
	}()
	o, err := s.send(frame.New(frame.SEND, frame.Destination, "/topic/c.a.agent"), "SEND to /topic/c.a.agent", nil)
	if err != nil {
		t.Fatal(err)
	}
	<-refused
	if err := o.wait(ctx); err == nil || !strings.Contains(err.Error(), "SEND to /topic/c.a.agent: broker stomp+ssl://fake:61614 refused it: User x is not authorized") {
		t.Fatalf("refused send: %v", err)
	}
	if s.Err() != nil {
		t.Fatalf("session ended after a per-frame ERROR: %v", s.Err())
	}

	go func() {
		fb.answer(t, nil) // SUBSCRIBE, never confirmed
		_ = fb.w.Write(frame.New(frame.ERROR, frame.Message, "broker shutting down"))
	}()
	o, err = s.send(frame.New(frame.SUBSCRIBE, frame.Id, "1", frame.Destination, "/queue/c.nodes"), "SUBSCRIBE to /queue/c.nodes", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.wait(ctx); err == nil || !strings.Contains(err.Error(), "connection lost before the broker confirmed it") || !strings.Contains(err.Error(), "broker shutting down") {
		t.Fatalf("pending op after a fatal ERROR: %v", err)
	}
	select {
	case <-s.dead:
	case <-ctx.Done():
		t.Fatal("session did not end")
	}
	if _, err := s.send(frame.New(frame.SEND, frame.Destination, "/topic/x"), "SEND", nil); err == nil {
		t.Error("send on an ended session succeeded")
	}
}
