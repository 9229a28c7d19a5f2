package stomp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/go-stomp/stomp/v3/frame"
)

// heartBeatGrace is how much later than negotiated a broker's heart-beat
// may arrive before the connection counts as dead. ActiveMQ checks for
// idleness once per interval, so its heart-beats come up to two intervals
// apart; the third covers scheduling delays.
const heartBeatGrace = 3

// session is one STOMP connection to one broker: go-stomp's frame codec
// over a TLS connection, with our own read loop so that
//
//   - any frame can carry a receipt and a receipt or an ERROR that names
//     it settles exactly that operation (go-stomp's Conn only takes
//     receipts on SEND and closes the connection on every ERROR),
//   - a slow message handler never holds up receipts or other
//     subscriptions (deliveries are handed to per-subscription queues).
type session struct {
	broker  string // stomp+ssl://host:port, for messages
	nc      net.Conn
	deliver func(sub string, f *frame.Frame)

	wmu     sync.Mutex // serialises writes
	w       *frame.Writer
	lastW   time.Time
	writeTO time.Duration // heart-beat we owe the broker (0: none)
	readTO  time.Duration // heart-beat the broker owes us (0: none)

	mu      sync.Mutex
	seq     uint64
	pending map[string]*op
	err     error // why the session ended

	dead chan struct{}
}

// op is a frame sent with a receipt, settled by its RECEIPT, by an
// ERROR naming it, or by the end of the session.
type op struct {
	what  string // "SEND to /topic/x" for messages
	done  chan struct{}
	err   error
	onErr func(error) // called with err before done closes (optional)
}

func (o *op) finish(err error) {
	o.err = err
	if err != nil && o.onErr != nil {
		o.onErr(err)
	}
	close(o.done)
}

func (o *op) wait(ctx context.Context) error {
	select {
	case <-o.done:
		return o.err
	case <-ctx.Done():
		return fmt.Errorf("%s: no receipt from the broker: %w", o.what, ctx.Err())
	}
}

// dialOptions is what dial needs from the Config.
type dialOptions struct {
	vhost     string
	heartBeat time.Duration
	timeout   time.Duration
}

// dial connects to b, performs the STOMP CONNECT and starts the read loop.
func dial(ctx context.Context, b Broker, o dialOptions, deliver func(string, *frame.Frame)) (*session, error) {
	addr := net.JoinHostPort(b.Host, strconv.Itoa(b.Port))
	s := &session{broker: b.URL(), deliver: deliver, pending: map[string]*op{}, dead: make(chan struct{})}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	var nc net.Conn
	var err error
	if b.Plain {
		nc, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	} else {
		tlsc := b.TLS.Clone()
		if tlsc.ServerName == "" {
			tlsc.ServerName = b.Host
		}
		nc, err = (&tls.Dialer{NetDialer: &net.Dialer{}, Config: tlsc}).DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.broker, err)
	}
	s.nc = nc
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	r := frame.NewReaderSize(nc, 64<<10)
	s.w = frame.NewWriterSize(nc, 64<<10)
	if err := s.handshake(r, b, o); err != nil {
		nc.Close()
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	s.lastW = time.Now()
	go s.readLoop(r)
	if s.writeTO > 0 {
		go s.heartBeats()
	}
	return s, nil
}

// handshake sends CONNECT and checks CONNECTED: the version and the
// heart-beats both sides will keep.
func (s *session) handshake(r *frame.Reader, b Broker, o dialOptions) error {
	hb := "0,0"
	if o.heartBeat > 0 {
		ms := strconv.FormatInt(o.heartBeat.Milliseconds(), 10)
		hb = ms + "," + ms
	}
	connect := frame.New(frame.CONNECT,
		frame.AcceptVersion, "1.1,1.2",
		frame.Host, o.vhost,
		frame.HeartBeat, hb)
	if b.User != "" || b.Password != "" {
		connect.Header.Add(frame.Login, b.User)
		connect.Header.Add(frame.Passcode, b.Password)
	}
	if err := s.w.Write(connect); err != nil {
		return fmt.Errorf("%s: send CONNECT: %w", s.broker, err)
	}
	resp, err := readFrame(r)
	if err != nil {
		return fmt.Errorf("%s: waiting for CONNECTED: %w", s.broker, err)
	}
	switch resp.Command {
	case frame.CONNECTED:
	case frame.ERROR:
		return fmt.Errorf("%s: broker refused the connection (login %q): %s", s.broker, b.User, errorText(resp))
	default:
		return fmt.Errorf("%s: expected CONNECTED, got %s", s.broker, resp.Command)
	}
	if v := resp.Header.Get(frame.Version); v != "1.1" && v != "1.2" {
		return fmt.Errorf("%s: broker speaks STOMP %q; tutti needs 1.1 or 1.2", s.broker, v)
	}
	if o.heartBeat <= 0 {
		return nil
	}
	v, ok := resp.Header.Contains(frame.HeartBeat)
	if !ok {
		return nil
	}
	sx, sy, err := frame.ParseHeartBeat(v)
	if err != nil {
		return fmt.Errorf("%s: bad heart-beat %q in CONNECTED: %w", s.broker, v, err)
	}
	// STOMP 1.2 heart-beating: we send every max(ours, what the broker
	// wants), the broker every max(what it offers, ours).
	if sy > 0 {
		s.writeTO = max(o.heartBeat, sy)
	}
	if sx > 0 {
		s.readTO = max(o.heartBeat, sx)
	}
	return nil
}

// readFrame skips heart-beats.
func readFrame(r *frame.Reader) (*frame.Frame, error) {
	for {
		f, err := r.Read()
		if err != nil {
			return nil, err
		}
		if f != nil {
			return f, nil
		}
	}
}

// errorText is an ERROR frame's message header plus its body, if any.
func errorText(f *frame.Frame) string {
	msg := f.Header.Get(frame.Message)
	if body := string(f.Body); body != "" && body != msg {
		const maxBody = 300
		if len(body) > maxBody {
			body = body[:maxBody] + "…"
		}
		if msg == "" {
			return body
		}
		return msg + ": " + body
	}
	if msg == "" {
		return "ERROR without a message"
	}
	return msg
}

func (s *session) readLoop(r *frame.Reader) {
	for {
		if s.readTO > 0 {
			_ = s.nc.SetReadDeadline(time.Now().Add(heartBeatGrace * s.readTO))
		}
		f, err := r.Read()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				err = fmt.Errorf("no heart-beat from the broker for %v: %w", heartBeatGrace*s.readTO, err)
			}
			s.fail(err)
			return
		}
		if f == nil {
			continue // heart-beat
		}
		switch f.Command {
		case frame.MESSAGE:
			s.deliver(f.Header.Get(frame.Subscription), f)
		case frame.RECEIPT:
			s.settle(f.Header.Get(frame.ReceiptId), nil)
		case frame.ERROR:
			text := errorText(f)
			if id, ok := f.Header.Contains(frame.ReceiptId); ok && s.settle(id, errors.New(text)) {
				continue
			}
			s.fail(fmt.Errorf("broker sent ERROR: %s", text))
			return
		}
	}
}

// settle resolves the op waiting for receipt id; it reports whether
// there was one.
func (s *session) settle(id string, err error) bool {
	s.mu.Lock()
	o, ok := s.pending[id]
	delete(s.pending, id)
	s.mu.Unlock()
	if !ok {
		return false
	}
	if err != nil {
		err = fmt.Errorf("%s: broker %s refused it: %w", o.what, s.broker, err)
	}
	o.finish(err)
	return true
}

// fail ends the session once: every pending op fails with err.
func (s *session) fail(err error) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	s.err = fmt.Errorf("%s: %w", s.broker, err)
	pending := s.pending
	s.pending = map[string]*op{}
	s.mu.Unlock()
	_ = s.nc.Close()
	for _, o := range pending {
		o.finish(fmt.Errorf("%s: connection lost before the broker confirmed it: %w", o.what, s.err))
	}
	close(s.dead)
}

// Err is why the session ended (nil while alive).
func (s *session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// send writes f with a receipt and returns the op that settles it;
// onErr (optional) hears about a refusal or loss.
func (s *session) send(f *frame.Frame, what string, onErr func(error)) (*op, error) {
	o := &op{what: what, done: make(chan struct{}), onErr: onErr}
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		return nil, err
	}
	s.seq++
	id := "r" + strconv.FormatUint(s.seq, 10)
	s.pending[id] = o
	s.mu.Unlock()
	f.Header.Set(frame.Receipt, id)
	if err := s.write(f); err != nil {
		s.fail(err)
		return nil, fmt.Errorf("%s: %w", what, s.Err())
	}
	return o, nil
}

func (s *session) write(f *frame.Frame) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = s.nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
	err := s.w.Write(f)
	s.lastW = time.Now()
	return err
}

// pendingOps returns the ops not settled yet.
func (s *session) pendingOps() []*op {
	s.mu.Lock()
	defer s.mu.Unlock()
	ops := make([]*op, 0, len(s.pending))
	for _, o := range s.pending {
		ops = append(ops, o)
	}
	return ops
}

// heartBeats sends a heart-beat when nothing else was written for a
// while.
func (s *session) heartBeats() {
	t := time.NewTicker(s.writeTO / 2)
	defer t.Stop()
	for {
		select {
		case <-s.dead:
			return
		case <-t.C:
		}
		s.wmu.Lock()
		var err error
		if time.Since(s.lastW) >= s.writeTO/2 {
			_ = s.nc.SetWriteDeadline(time.Now().Add(s.writeTO))
			err = s.w.Write(nil)
			s.lastW = time.Now()
		}
		s.wmu.Unlock()
		if err != nil {
			s.fail(fmt.Errorf("send heart-beat: %w", err))
			return
		}
	}
}

// close disconnects politely (DISCONNECT with a receipt, bounded by
// timeout) and ends the session.
func (s *session) close(timeout time.Duration) {
	if o, err := s.send(frame.New(frame.DISCONNECT), "DISCONNECT", nil); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		_ = o.wait(ctx)
		cancel()
	}
	s.fail(errClosedByUs)
}

var errClosedByUs = errors.New("closed")
