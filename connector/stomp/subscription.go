package stomp

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/go-stomp/stomp/v3/frame"
	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/connector"
)

type subscription struct {
	id     string
	dest   connector.Destination
	target Target
	conn   *Conn
	q      *queue

	once sync.Once
	err  error
}

func (s *subscription) what() string {
	if sel := s.target.Selector(); sel != "" {
		return "SUBSCRIBE to " + s.target.Name + " [" + sel + "]"
	}
	return "SUBSCRIBE to " + s.target.Name
}

// subscribeFrame is the SUBSCRIBE for s; the same id on every
// connection, so MESSAGE frames find s again after a reconnect.
func (s *subscription) subscribeFrame() *frame.Frame {
	f := frame.New(frame.SUBSCRIBE,
		frame.Id, s.id,
		frame.Destination, s.target.Name,
		frame.Ack, "auto")
	if sel := s.target.Selector(); sel != "" {
		f.Header.Add("selector", sel)
	}
	return f
}

// Subscribe delivers every message for dest to h, one at a time per
// subscription, until Unsubscribe or Close. When connected it waits for
// the broker's receipt, so a refusal (no read permission on the
// destination) is returned here; while reconnecting it returns at once and
// the subscription is made on the next connection.
func (c *Conn) Subscribe(dest connector.Destination, h connector.Handler) (connector.Subscription, error) {
	if h == nil {
		return nil, errors.New("subscribe: nil handler")
	}
	t, err := c.mapDest(dest)
	if err != nil {
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, fmt.Errorf("subscribe to %s: %w", t.Name, connector.ErrClosed)
	}
	c.nextID++
	sub := &subscription{id: "tutti-" + strconv.FormatUint(c.nextID, 10), dest: dest, target: t, conn: c}
	sub.q = newQueue(h, dest, c.cfg.PendingBytes, c.log.WithField("destination", t.Name))
	c.subs[sub.id] = sub
	s := c.sess
	c.mu.Unlock()
	if s == nil {
		return sub, nil
	}
	o, err := s.send(sub.subscribeFrame(), sub.what(), nil)
	if err != nil {
		return sub, nil // the session died; the next one subscribes
	}
	ctx, cancel := context.WithTimeout(context.Background(), DefaultFlushTimeout)
	defer cancel()
	if err := o.wait(ctx); err != nil {
		if serr := s.Err(); serr != nil && !refusesExchange(serr, t.Name) {
			return sub, nil // lost with the session; resubscribed on reconnect
		}
		c.remove(sub)
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	return sub, nil
}

// refusesExchange reports whether a session the broker ended names the
// exchange or queue of the destination name: RabbitMQ answers a SUBSCRIBE
// it refuses (an exchange that does not exist, no permission) with an
// ERROR without receipt-id ("no exchange 'c_broadcast' in vhost '/'",
// "access to exchange 'c_broadcast' … refused") and closes the
// connection. Subscribing again after reconnecting would only repeat
// that, so Subscribe returns the refusal instead.
func refusesExchange(err error, name string) bool {
	var kind, rest string
	switch {
	case strings.HasPrefix(name, "/exchange/"):
		kind, rest = "exchange", strings.TrimPrefix(name, "/exchange/")
	case strings.HasPrefix(name, "/queue/"):
		kind, rest = "queue", strings.TrimPrefix(name, "/queue/")
	default:
		return false
	}
	what, _, _ := strings.Cut(rest, "/")
	return strings.Contains(err.Error(), kind+" '"+what+"'")
}

func (c *Conn) remove(sub *subscription) (*session, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.subs[sub.id]
	delete(c.subs, sub.id)
	sub.q.stop()
	return c.sess, ok
}

// deliver hands a MESSAGE to its subscription's queue; it runs on the
// session's read loop and never blocks on a handler.
func (c *Conn) deliver(id string, f *frame.Frame) {
	c.mu.Lock()
	sub := c.subs[id]
	c.mu.Unlock()
	if sub == nil {
		return // unsubscribed; the broker had it in flight
	}
	sub.q.push(f.Body, f.Header.Get("reply-to"))
}

// Unsubscribe ends the subscription: its handler is not called again.
// Calling it again returns the first call's result.
func (s *subscription) Unsubscribe() error {
	s.once.Do(func() {
		sess, ok := s.conn.remove(s)
		if !ok || sess == nil {
			return
		}
		// The receipt is collected by Flush; a lost connection forgets
		// the subscription anyway.
		if _, err := sess.send(frame.New(frame.UNSUBSCRIBE, frame.Id, s.id), "UNSUBSCRIBE from "+s.target.Name, nil); err != nil {
			s.conn.log.WithError(err).Debug("unsubscribe on a lost connection")
		}
	})
	return s.err
}

// queue is one subscription's messages between the read loop and the
// handler, bounded in bytes.
type queue struct {
	h     connector.Handler
	dest  connector.Destination
	limit int
	log   *logrus.Entry

	mu      sync.Mutex
	msgs    []pending
	bytes   int
	dropped int
	stopped bool
	wake    chan struct{}
}

func newQueue(h connector.Handler, dest connector.Destination, limit int, log *logrus.Entry) *queue {
	q := &queue{h: h, dest: dest, limit: limit, log: log, wake: make(chan struct{}, 1)}
	go q.run()
	return q
}

// pending is one message waiting for the handler.
type pending struct {
	b       []byte
	replyTo string
}

func (q *queue) push(b []byte, replyTo string) {
	q.mu.Lock()
	if q.stopped {
		q.mu.Unlock()
		return
	}
	if q.bytes+len(b) > q.limit {
		q.dropped++
		n := q.dropped
		q.mu.Unlock()
		q.log.WithFields(logrus.Fields{"dropped": n, "pending_bytes": q.limit}).
			Error("slow consumer: message dropped because the handler cannot keep up")
		return
	}
	q.msgs = append(q.msgs, pending{b: b, replyTo: replyTo})
	q.bytes += len(b)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *queue) stop() {
	q.mu.Lock()
	q.stopped = true
	q.msgs, q.bytes = nil, 0
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *queue) run() {
	for range q.wake {
		for {
			q.mu.Lock()
			if q.stopped {
				q.mu.Unlock()
				return
			}
			if len(q.msgs) == 0 {
				q.mu.Unlock()
				break
			}
			p := q.msgs[0]
			q.msgs[0] = pending{}
			q.msgs = q.msgs[1:]
			q.bytes -= len(p.b)
			q.mu.Unlock()
			q.h(connector.Message{Data: p.b, Destination: q.dest, ReplyTo: p.replyTo})
		}
	}
}
