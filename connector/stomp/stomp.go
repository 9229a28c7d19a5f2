// Package stomp is the STOMP connector for ActiveMQ and RabbitMQ, with
// MCollective's destinations. ActiveMQ (see Map): broadcast requests on one
// topic per agent, directed requests on the collective's nodes queue with
// an mc_identity header and selector, replies on per-request reply queues.
// RabbitMQ (see MapRabbitMQ): per-collective broadcast, directed and reply
// exchanges with the agent, identity or reply-to as routing key.
// Collectives are part of every name, so one broker hosts several and its
// permissions can keep them apart. Like every connector it moves opaque
// bytes and never looks inside them.
//
// It speaks STOMP 1.1/1.2 over mutually authenticated TLS, using
// go-stomp's frame codec with its own connection loop (see session):
// every SEND, SUBSCRIBE and UNSUBSCRIBE carries a receipt, so Flush really
// waits for the broker, and a refusal (an ERROR naming the receipt, e.g.
// from ActiveMQ's authorization plugin) is returned to the caller that
// caused it.
//
// A Conn keeps trying the brokers of its pool, in order or shuffled, for
// as long as its Connect context allows; once connected it reconnects
// forever (or MaxReconnectAttempts) with an exponential, jittered backoff
// and subscribes again to everything it was subscribed to.
package stomp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-stomp/stomp/v3/frame"
	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/connector"
)

// Defaults applied by Connect.
const (
	DefaultVHost                 = "mcollective"
	DefaultConnectTimeout        = 5 * time.Second
	DefaultInitialReconnectDelay = 10 * time.Millisecond
	DefaultMaxReconnectDelay     = 30 * time.Second
	DefaultBackOffMultiplier     = 2
	// DefaultMessageTTL is the expires header of every message: how long
	// a message waits on the broker for a consumer (a directed request
	// for a node that is down, a reply for a client that left).
	// MCollective uses ttl + 10 s with a default ttl of 60 s.
	DefaultMessageTTL = 70 * time.Second
	// DefaultFlushTimeout bounds Flush and Subscribe when their context
	// has no deadline.
	DefaultFlushTimeout = 10 * time.Second
	// DefaultPendingBytes is each subscription's buffer between the
	// socket and its handler; beyond it messages are dropped and logged.
	DefaultPendingBytes = 512 << 20
)

// Broker is one member of the pool.
type Broker struct {
	Host string
	Port int
	// User and Password are the STOMP login and passcode (optional).
	User, Password string
	// TLS is required unless Plain: RootCAs for the broker's certificate
	// and the client certificate. ServerName defaults to Host.
	TLS *tls.Config
	// Plain connects without TLS. Only MCollective's ssl mode allows it
	// (its messages are signed end to end, as on MCollective sites that
	// run plain STOMP); the connection is then neither private nor
	// authenticated beyond User and Password.
	Plain bool
}

// URL is stomp+ssl://host:port (stomp://host:port when Plain), how logs
// and errors name the broker.
func (b Broker) URL() string {
	if b.Plain {
		return "stomp://" + net.JoinHostPort(b.Host, strconv.Itoa(b.Port))
	}
	return "stomp+ssl://" + net.JoinHostPort(b.Host, strconv.Itoa(b.Port))
}

// Config is a STOMP connection's configuration.
type Config struct {
	// Brokers is the pool, tried in order (or shuffled with Randomize).
	Brokers   []Broker
	Randomize bool
	// Naming chooses the broker's destination names: ActiveMQ (the
	// default, Map) or RabbitMQ (MapRabbitMQ).
	Naming Naming
	// VHost is the CONNECT host header (default "mcollective"; "/" with
	// RabbitMQ naming, where it is the virtual host).
	VHost string
	// HeartBeat is the STOMP heart-beat interval both ways; 0 = none.
	HeartBeat time.Duration
	// ConnectTimeout bounds one dial, TLS handshake and CONNECT.
	ConnectTimeout time.Duration
	// Reconnect policy: the delay before attempt n is
	// InitialReconnectDelay·BackOffMultiplier^(n-1), at most
	// MaxReconnectDelay, plus up to 50% jitter. MaxReconnectAttempts 0
	// reconnects forever; otherwise the Conn closes itself after that many
	// failed attempts in a row.
	InitialReconnectDelay, MaxReconnectDelay time.Duration
	BackOffMultiplier                        float64
	MaxReconnectAttempts                     int
	// MessageTTL sets every message's expires header (default 70s).
	MessageTTL time.Duration
	// Name is the connection's name in logs (the identity).
	Name string
	// Log receives connection events. Required.
	Log *logrus.Entry
	// OnStateChange, if set, is called with true when the connection is
	// (re-)established and false when it is lost or closed. It must not
	// block.
	OnStateChange func(connected bool)
	// PendingBytes overrides DefaultPendingBytes.
	PendingBytes int
}

// Conn is a connection to one broker of a pool. It is safe for concurrent
// use.
type Conn struct {
	cfg Config
	log *logrus.Entry

	mu     sync.Mutex
	sess   *session      // nil while reconnecting
	up     chan struct{} // closed while sess != nil
	subs   map[string]*subscription
	nextID uint64
	failed error // a refusal not yet reported by Flush
	closed bool

	stop chan struct{} // closed by Close
	done chan struct{} // closed when the supervisor ends
}

var _ connector.Connector = (*Conn)(nil)

// Connect connects to a broker of cfg.Brokers and returns once connected.
// While none answers it keeps trying with the reconnect backoff, logging
// each failure; when ctx ends first it returns an error naming the
// brokers and the last failure (a refused login names the login and the
// broker's reason).
func Connect(ctx context.Context, cfg Config) (*Conn, error) {
	if err := prepare(&cfg); err != nil {
		return nil, err
	}
	c := &Conn{
		cfg:  cfg,
		log:  cfg.Log.WithField("connection", cfg.Name),
		up:   make(chan struct{}),
		subs: map[string]*subscription{},
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	s, err := c.dialLoop(ctx, 0)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.sess = s
	close(c.up)
	c.mu.Unlock()
	c.stateChanged(true)
	go c.supervise(s)
	return c, nil
}

// prepare validates cfg and fills in defaults.
func prepare(cfg *Config) error {
	if cfg.Log == nil {
		return errors.New("stomp connector: a logger is required")
	}
	if len(cfg.Brokers) == 0 {
		return errors.New("stomp connector: no brokers configured")
	}
	for i, b := range cfg.Brokers {
		switch {
		case strings.TrimSpace(b.Host) == "":
			return fmt.Errorf("stomp connector: broker %d: empty host", i+1)
		case b.Port < 1 || b.Port > 65535:
			return fmt.Errorf("stomp connector: broker %d (%s): bad port %d", i+1, b.Host, b.Port)
		case b.Plain && b.TLS != nil:
			return fmt.Errorf("stomp connector: broker %d (%s): both Plain and TLS are set", i+1, b.URL())
		case b.Plain:
		case b.TLS == nil:
			return fmt.Errorf("stomp connector: broker %d (%s): TLS is required (mutual TLS with a client certificate)", i+1, b.URL())
		case b.TLS.InsecureSkipVerify:
			return fmt.Errorf("stomp connector: broker %d (%s): TLS.InsecureSkipVerify is set; broker certificate verification cannot be disabled", i+1, b.URL())
		}
	}
	if cfg.VHost == "" {
		cfg.VHost = DefaultVHost
		if cfg.Naming == RabbitMQ {
			cfg.VHost = DefaultRabbitMQVHost
		}
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.InitialReconnectDelay <= 0 {
		cfg.InitialReconnectDelay = DefaultInitialReconnectDelay
	}
	if cfg.MaxReconnectDelay <= 0 {
		cfg.MaxReconnectDelay = DefaultMaxReconnectDelay
	}
	if cfg.MaxReconnectDelay < cfg.InitialReconnectDelay {
		cfg.MaxReconnectDelay = cfg.InitialReconnectDelay
	}
	if cfg.BackOffMultiplier < 1 {
		cfg.BackOffMultiplier = DefaultBackOffMultiplier
	}
	if cfg.MessageTTL <= 0 {
		cfg.MessageTTL = DefaultMessageTTL
	}
	if cfg.PendingBytes <= 0 {
		cfg.PendingBytes = DefaultPendingBytes
	}
	return nil
}

// backoff is the wait before reconnect attempt n (1-based).
func (c *Conn) backoff(n int) time.Duration {
	d := float64(c.cfg.InitialReconnectDelay)
	for i := 1; i < n && d < float64(c.cfg.MaxReconnectDelay); i++ {
		d *= c.cfg.BackOffMultiplier
	}
	w := time.Duration(min(d, float64(c.cfg.MaxReconnectDelay)))
	return w + rand.N(w/2+1)
}

// dialLoop tries the pool until a broker accepts, ctx ends, Close is
// called, or (limit > 0) limit attempts failed.
func (c *Conn) dialLoop(ctx context.Context, limit int) (*session, error) {
	order := make([]int, len(c.cfg.Brokers))
	for i := range order {
		order[i] = i
	}
	if c.cfg.Randomize {
		rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	opts := dialOptions{vhost: c.cfg.VHost, heartBeat: c.cfg.HeartBeat, timeout: c.cfg.ConnectTimeout}
	var last error
	gaveUp := func(attempt int) error {
		return fmt.Errorf("connect to %s: gave up after %d attempts: %w (last error: %w)", c.brokers(), attempt, ctx.Err(), last)
	}
	for attempt := 1; ; attempt++ {
		b := c.cfg.Brokers[order[(attempt-1)%len(order)]]
		s, err := dial(ctx, b, opts, c.deliver)
		if err == nil {
			c.log.WithFields(logrus.Fields{"broker": b.URL(), "attempt": attempt}).Info("connected to broker")
			return s, nil
		}
		if ctx.Err() != nil && last != nil {
			// The context ended during this dial, which then failed for
			// that reason (an i/o timeout): the cause worth naming is the
			// previous attempt's.
			return nil, gaveUp(attempt)
		}
		last = err
		c.log.WithError(err).WithField("attempt", attempt).Warn("cannot connect to the broker; retrying")
		if limit > 0 && attempt >= limit {
			return nil, fmt.Errorf("connect to %s: gave up after %d attempts (last error: %w)", c.brokers(), attempt, last)
		}
		t := time.NewTimer(c.backoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, gaveUp(attempt)
		case <-c.stop:
			t.Stop()
			return nil, connector.ErrClosed
		case <-t.C:
		}
	}
}

func (c *Conn) brokers() string {
	urls := make([]string, len(c.cfg.Brokers))
	for i, b := range c.cfg.Brokers {
		urls[i] = b.URL()
	}
	return strings.Join(urls, ", ")
}

func (c *Conn) stateChanged(up bool) {
	if c.cfg.OnStateChange != nil {
		c.cfg.OnStateChange(up)
	}
}

// supervise waits for the session to end and reconnects, until Close.
func (c *Conn) supervise(s *session) {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			return
		case <-s.dead:
		}
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return
		}
		c.sess = nil
		c.up = make(chan struct{})
		c.mu.Unlock()
		c.log.WithError(s.Err()).Warn("disconnected from the broker; reconnecting")
		c.stateChanged(false)

		next, err := c.dialLoop(context.Background(), c.cfg.MaxReconnectAttempts)
		if err != nil {
			if !errors.Is(err, connector.ErrClosed) {
				c.log.WithError(err).Error("giving up on the broker; the connection is closed")
				_ = c.Close()
			}
			return
		}
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			next.close(time.Second)
			return
		}
		subs := make([]*subscription, 0, len(c.subs))
		for _, sub := range c.subs {
			subs = append(subs, sub)
		}
		c.sess = next
		close(c.up)
		c.mu.Unlock()
		for _, sub := range subs {
			if _, err := next.send(sub.subscribeFrame(), sub.what(), nil); err != nil {
				c.log.WithError(err).Warn("resubscribe failed")
			}
		}
		c.log.WithField("subscriptions", len(subs)).Info("reconnected to the broker and subscribed again")
		c.stateChanged(true)
		s = next
	}
}

// session waits for a live session until ctx ends or Close.
func (c *Conn) session(ctx context.Context) (*session, error) {
	for {
		c.mu.Lock()
		s, up, closed := c.sess, c.up, c.closed
		c.mu.Unlock()
		if closed {
			return nil, connector.ErrClosed
		}
		if s != nil && s.Err() == nil {
			return s, nil
		}
		if s != nil {
			// dead, and the supervisor has not noticed yet
			t := time.NewTimer(5 * time.Millisecond)
			select {
			case <-t.C:
				continue
			case <-c.stop:
				t.Stop()
				return nil, connector.ErrClosed
			case <-ctx.Done():
				t.Stop()
				return nil, fmt.Errorf("not connected to %s: %w", c.brokers(), ctx.Err())
			}
		}
		select {
		case <-up:
		case <-c.stop:
			return nil, connector.ErrClosed
		case <-ctx.Done():
			return nil, fmt.Errorf("not connected to %s: %w", c.brokers(), ctx.Err())
		}
	}
}

// Publish sends data to dest. It waits for a connection while
// reconnecting (until ctx ends) but not for the broker's receipt; Flush
// does, and reports a refusal.
func (c *Conn) Publish(ctx context.Context, dest connector.Destination, data []byte) error {
	t, err := c.mapDest(dest)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("publish to %s: %w", t.Name, err)
	}
	s, err := c.session(ctx)
	if err != nil {
		return fmt.Errorf("publish to %s: %w", t.Name, err)
	}
	now := time.Now()
	f := frame.New(frame.SEND,
		frame.Destination, t.Name,
		frame.ContentLength, strconv.Itoa(len(data)),
		"timestamp", strconv.FormatInt(now.UnixMilli(), 10),
	)
	if c.cfg.Naming == RabbitMQ {
		// RabbitMQ's per-message TTL in ms, as MCollective's rabbitmq
		// connector sets it; ActiveMQ takes an absolute expiry.
		f.Header.Add("expiration", strconv.FormatInt(c.cfg.MessageTTL.Milliseconds(), 10))
	} else {
		f.Header.Add("expires", strconv.FormatInt(now.Add(c.cfg.MessageTTL).UnixMilli(), 10))
	}
	if t.Identity != "" {
		f.Header.Add(IdentityHeader, t.Identity)
	}
	if dest.Kind != connector.Reply && dest.ReplyTo != "" {
		// a request's reply-to as a STOMP header (MCollective's ssl mode)
		q, err := replyQueue(dest.ReplyTo)
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		f.Header.Add("reply-to", q)
	}
	f.Body = data
	if _, err := s.send(f, "SEND to "+t.Name, c.refused); err != nil {
		return fmt.Errorf("publish %d bytes: %w", len(data), err)
	}
	return nil
}

// refused keeps a publish's refusal or loss for the next Flush.
func (c *Conn) refused(err error) {
	c.log.WithError(err).Warn("publish not confirmed")
	c.mu.Lock()
	if c.failed == nil {
		c.failed = err
	}
	c.mu.Unlock()
}

// Flush waits until the broker confirmed everything sent so far on this
// connection (publishes, subscribes, unsubscribes). It returns the first
// refusal or loss since the previous Flush. Without a deadline on ctx it
// waits at most DefaultFlushTimeout.
func (c *Conn) Flush(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultFlushTimeout)
		defer cancel()
	}
	s, err := c.session(ctx)
	if err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	var first error
	for _, o := range s.pendingOps() {
		if err := o.wait(ctx); err != nil && first == nil {
			first = err
		}
	}
	c.mu.Lock()
	if first == nil {
		first = c.failed
	}
	c.failed = nil
	c.mu.Unlock()
	if first != nil {
		return fmt.Errorf("flush: %w", first)
	}
	return nil
}

// NewReplyTo returns <collective>.reply.<hex md5(callerID)>.<requestID>,
// a queue name.
func (c *Conn) NewReplyTo(collective, callerID, requestID string) string {
	return connector.ReplyTo(collective, callerID, requestID)
}

// CanonicalReplyTo strips the "/queue/" an MCollective-style reply-to
// starts with: Map publishes "x" and "/queue/x" to the same queue, so
// strict_reply_to compares the queue name without it. With RabbitMQ
// naming it strips "/exchange/<collective>_reply/" likewise.
func (c *Conn) CanonicalReplyTo(replyTo string) string {
	if c.cfg.Naming == RabbitMQ {
		if m := rabbitReplyRe.FindStringSubmatch(replyTo); m != nil {
			return m[2]
		}
		return replyTo
	}
	return strings.TrimPrefix(replyTo, "/queue/")
}

var _ connector.ReplyCanonicalizer = (*Conn)(nil)

// Close disconnects; pending messages are not delivered. It is safe to
// call more than once.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	s := c.sess
	subs := c.subs
	c.subs = map[string]*subscription{}
	close(c.stop)
	c.mu.Unlock()
	for _, sub := range subs {
		sub.q.stop()
	}
	if s != nil {
		s.close(time.Second)
	}
	c.log.Info("connection closed")
	c.stateChanged(false)
	return nil
}
