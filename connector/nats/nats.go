// Package nats is the Choria-compatible NATS connector: it maps tutti's
// destinations onto Choria's subjects (see Subject) and moves opaque
// payloads over a mutually authenticated TLS connection. NATS headers and
// the NATS reply field are never used; the reply subject travels inside
// the payload (docs/protocol.md §11).
//
// A Conn keeps trying to reach its brokers for as long as its Connect
// context allows, and once connected it reconnects forever with a jittered
// backoff, restoring its subscriptions on the new connection.
package nats

import (
	"context"
	"crypto/tls"
	stdx509 "crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/connector"
)

// Defaults applied by Connect.
const (
	// DefaultConnectTimeout bounds one dial plus TLS handshake.
	DefaultConnectTimeout = 5 * time.Second
	// DefaultFlushTimeout bounds Flush when its context has no deadline.
	DefaultFlushTimeout = 10 * time.Second
	// DefaultPendingMsgs and DefaultPendingBytes are each subscription's
	// buffer between the socket and its handler. They are generous so a
	// broadcast burst to a node is queued, not dropped as a slow consumer.
	DefaultPendingMsgs  = 1 << 20
	DefaultPendingBytes = 512 << 20
	// reconnectBuf holds publishes made while reconnecting.
	reconnectBuf = 16 << 20
)

// Config is a NATS connection's configuration.
type Config struct {
	// Servers are nats://host:port (or tls://host:port) URLs; host:port
	// alone means nats://.
	Servers []string
	// TLS is the client TLS configuration: RootCAs that sign the brokers'
	// certificates and the client certificate. Required; verification
	// cannot be disabled.
	TLS *tls.Config
	// User and Password, or Credentials (a NATS .creds file), are optional
	// broker credentials on top of the certificate.
	User, Password, Credentials string
	// Token is a login token (tutti-aaa's JWT) presented to the broker in
	// CONNECT: a tutti broker that can verify it lets this connection
	// read the replies of the token's caller too (docs/security.md).
	Token string
	// Certificate names the client certificate in errors ("permission
	// denied to subscribe to … as <Certificate>"); default: the name of
	// TLS.Certificates[0], else Name.
	Certificate string
	// Name is the connection name the broker shows (the identity).
	Name string
	// Log receives connection events. Required.
	Log *logrus.Entry
	// ConnectTimeout bounds one dial plus TLS handshake (default 5s).
	ConnectTimeout time.Duration
	// OnStateChange, if set, is called with true when the connection is
	// (re-)established and false when it is lost or closed. It runs on
	// nats.go's callback goroutine and must not block.
	OnStateChange func(connected bool)
	// PendingMsgs and PendingBytes override DefaultPendingMsgs and
	// DefaultPendingBytes.
	PendingMsgs, PendingBytes int
	// InboxPrefix is the connection's inbox prefix (nats.go
	// CustomInboxPrefix), where answers to its requests arrive: JetStream's
	// acknowledgements of a node's audit records sent over this
	// connection (Conn.NATS). A tutti broker lets a certificate subscribe
	// only under its own, x509.InboxPrefix(certificate name); empty means
	// nats.go's _INBOX.
	InboxPrefix string
}

// Conn is a NATS connection. It is safe for concurrent use.
type Conn struct {
	nc     *natsgo.Conn
	cfg    Config
	log    *logrus.Entry
	denied denials

	closeOnce sync.Once
	// closed is closed by nats.go's closed callback, the last of its
	// ordered callbacks: once it ran, no error handler will log again.
	closed chan struct{}
}

var _ connector.Connector = (*Conn)(nil)

// Connect connects to one of cfg.Servers and returns once connected. A
// certificate failure retrying cannot fix (a *CertError) or the broker
// refusing the connection's credentials ends it at once. While no broker
// answers it keeps trying with a jittered backoff, logging each failure; when ctx ends first it returns an error naming the servers and
// the last failure. After that the connection reconnects on its own until
// Close.
func Connect(ctx context.Context, cfg Config) (*Conn, error) {
	if err := prepare(&cfg); err != nil {
		return nil, err
	}
	c := &Conn{cfg: cfg, log: cfg.Log.WithField("connection", cfg.Name)}
	servers := strings.Join(cfg.Servers, ", ")
	for attempt := 1; ; attempt++ {
		d := newDialer(cfg.ConnectTimeout)
		closed := make(chan struct{})
		nc, err := natsgo.Connect(strings.Join(cfg.Servers, ","), c.options(d, closed)...)
		if err == nil {
			c.nc, c.closed = nc, closed
			c.log.WithField("server", nc.ConnectedUrlRedacted()).Info("connected to broker")
			return c, nil
		}
		err = d.explain(err)
		if ce := classifyTLS(err, cfg.Certificate); ce != nil {
			// Retrying cannot help until a certificate or the CA changes.
			return nil, fmt.Errorf("connect to %s: %w", servers, ce)
		}
		if errors.Is(err, natsgo.ErrAuthorization) {
			// Retrying cannot help until the broker's configuration changes.
			return nil, fmt.Errorf("connect to %s: the broker refused certificate %s (its log names the reason): %w", servers, cfg.Certificate, err)
		}
		c.log.WithError(err).WithFields(logrus.Fields{"servers": servers, "attempt": attempt}).
			Warn("cannot connect to the broker; retrying")
		t := time.NewTimer(backoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("connect to %s: gave up after %d attempts: %w (last error: %w)", servers, attempt, ctx.Err(), err)
		case <-t.C:
		}
	}
}

// prepare validates cfg and fills in defaults.
func prepare(cfg *Config) error {
	if cfg.Log == nil {
		return errors.New("nats connector: a logger is required")
	}
	if cfg.TLS == nil {
		return errors.New("nats connector: TLS is required (mutual TLS with a client certificate)")
	}
	if cfg.TLS.InsecureSkipVerify {
		return errors.New("nats connector: TLS.InsecureSkipVerify is set; broker certificate verification cannot be disabled")
	}
	if len(cfg.Servers) == 0 {
		return errors.New("nats connector: no broker servers configured")
	}
	servers := make([]string, 0, len(cfg.Servers))
	for _, s := range cfg.Servers {
		s = strings.TrimSpace(s)
		if s == "" {
			return fmt.Errorf("nats connector: empty server in %q", cfg.Servers)
		}
		if !strings.Contains(s, "://") {
			s = "nats://" + s
		}
		servers = append(servers, s)
	}
	cfg.Servers = servers
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.PendingMsgs <= 0 {
		cfg.PendingMsgs = DefaultPendingMsgs
	}
	if cfg.PendingBytes <= 0 {
		cfg.PendingBytes = DefaultPendingBytes
	}
	if cfg.Certificate == "" {
		cfg.Certificate = certificateName(cfg.TLS, cfg.Name)
	}
	return nil
}

// certificateName is the name of the first client certificate in c
// (CN, else first DNS SAN), or def.
func certificateName(c *tls.Config, def string) string {
	if len(c.Certificates) == 0 || len(c.Certificates[0].Certificate) == 0 {
		return def
	}
	leaf := c.Certificates[0].Leaf
	if leaf == nil {
		var err error
		if leaf, err = stdx509.ParseCertificate(c.Certificates[0].Certificate[0]); err != nil {
			return def
		}
	}
	if leaf.Subject.CommonName != "" || len(leaf.DNSNames) == 0 {
		return leaf.Subject.CommonName
	}
	return leaf.DNSNames[0]
}

// options are the nats.go options of one connection attempt; its closed
// callback closes closed.
func (c *Conn) options(d *dialer, closed chan struct{}) []natsgo.Option {
	opts := []natsgo.Option{
		natsgo.Name(c.cfg.Name),
		natsgo.Secure(c.cfg.TLS.Clone()),
		natsgo.Timeout(c.cfg.ConnectTimeout),
		natsgo.SetCustomDialer(d),
		natsgo.MaxReconnects(-1),
		natsgo.CustomReconnectDelay(backoff),
		natsgo.IgnoreAuthErrorAbort(),
		natsgo.ReconnectBufSize(reconnectBuf),
		// State changes go through nats.go's ordered callback queue, so
		// OnStateChange sees them in the order they happened.
		natsgo.ConnectHandler(func(*natsgo.Conn) { c.stateChanged(true) }),
		natsgo.DisconnectErrHandler(c.onDisconnect),
		natsgo.ReconnectHandler(c.onReconnect),
		natsgo.ReconnectErrHandler(c.onReconnectErr),
		natsgo.ClosedHandler(func(*natsgo.Conn) {
			c.stateChanged(false)
			close(closed)
		}),
		natsgo.ErrorHandler(c.onAsyncError),
	}
	if c.cfg.User != "" || c.cfg.Password != "" {
		opts = append(opts, natsgo.UserInfo(c.cfg.User, c.cfg.Password))
	}
	if c.cfg.Credentials != "" {
		opts = append(opts, natsgo.UserCredentials(c.cfg.Credentials))
	}
	if c.cfg.Token != "" {
		opts = append(opts, natsgo.Token(c.cfg.Token))
	}
	if c.cfg.InboxPrefix != "" {
		opts = append(opts, natsgo.CustomInboxPrefix(c.cfg.InboxPrefix))
	}
	return opts
}

func (c *Conn) stateChanged(up bool) {
	if c.cfg.OnStateChange != nil {
		c.cfg.OnStateChange(up)
	}
}

func (c *Conn) onDisconnect(nc *natsgo.Conn, err error) {
	if nc.IsClosed() {
		return // Close, reported by the closed handler
	}
	c.log.WithError(err).Warn("disconnected from the broker; reconnecting")
	c.stateChanged(false)
}

func (c *Conn) onReconnect(nc *natsgo.Conn) {
	c.log.WithFields(logrus.Fields{"server": nc.ConnectedUrlRedacted(), "reconnects": nc.Stats().Reconnects}).
		Info("reconnected to the broker")
	c.stateChanged(true)
}

func (c *Conn) onReconnectErr(_ *natsgo.Conn, err error) {
	c.log.WithError(err).WithField("servers", strings.Join(c.cfg.Servers, ", ")).
		Warn("reconnect attempt failed; retrying")
}

func (c *Conn) onAsyncError(_ *natsgo.Conn, sub *natsgo.Subscription, err error) {
	if c.denied.note(err, c.cfg.Certificate) {
		c.log.WithError(deniedError(err, c.cfg.Certificate)).Error("the broker refused an operation")
		return
	}
	l := c.log.WithError(err)
	if sub != nil {
		l = l.WithField("subject", sub.Subject)
		if msgs, bytes, perr := sub.Pending(); perr == nil {
			l = l.WithFields(logrus.Fields{"pending_msgs": msgs, "pending_bytes": bytes})
		}
		if dropped, derr := sub.Dropped(); derr == nil {
			l = l.WithField("dropped", dropped)
		}
	}
	if errors.Is(err, natsgo.ErrSlowConsumer) {
		l.Error("slow consumer: messages dropped because the handler cannot keep up")
		return
	}
	l.Error("asynchronous connection error")
}

// Publish sends data to dest. It does not wait for the broker; use Flush.
// While reconnecting, publishes are buffered (up to 16 MiB).
func (c *Conn) Publish(ctx context.Context, dest connector.Destination, data []byte) error {
	subj, err := Subject(dest)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("publish to %s: %w", subj, err)
	}
	if err := c.nc.Publish(subj, data); err != nil {
		return fmt.Errorf("publish %d bytes to %s: %w", len(data), subj, c.mapErr(err))
	}
	return nil
}

// Subscribe delivers every message for dest to h, one message at a time
// per subscription, until Unsubscribe or Close. A Service destination
// joins the queue group named after the agent, so one member receives
// each message.
func (c *Conn) Subscribe(dest connector.Destination, h connector.Handler) (connector.Subscription, error) {
	if h == nil {
		return nil, errors.New("subscribe: nil handler")
	}
	subj, err := Subject(dest)
	if err != nil {
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	cb := func(m *natsgo.Msg) { h(connector.Message{Data: m.Data, Destination: dest}) }
	var sub *natsgo.Subscription
	if dest.Kind == connector.Service {
		sub, err = c.nc.QueueSubscribe(subj, dest.Agent, cb)
	} else {
		sub, err = c.nc.Subscribe(subj, cb)
	}
	if err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", subj, c.mapErr(err))
	}
	if err := sub.SetPendingLimits(c.cfg.PendingMsgs, c.cfg.PendingBytes); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("subscribe to %s: set pending limits: %w", subj, err)
	}
	return &subscription{sub: sub, conn: c}, nil
}

// NewReplyTo returns <collective>.reply.<hex md5(callerID)>.<requestID>.
func (c *Conn) NewReplyTo(collective, callerID, requestID string) string {
	return connector.ReplyTo(collective, callerID, requestID)
}

// Flush waits until the broker has received everything published so far.
// Without a deadline on ctx it waits at most DefaultFlushTimeout.
//
// It also returns the subscribes and publishes the broker refused since
// the last Flush (errors wrapping connector.ErrDenied and naming the
// subject and certificate, see DeniedError): the broker processes them in
// order, so one refused before the flush is known when it returns.
func (c *Conn) Flush(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultFlushTimeout)
		defer cancel()
	}
	if err := c.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("flush: %w", c.mapErr(err))
	}
	// nats.go sets LastError before it handles the PONG that ends the
	// flush; its error handler, which also notes violations, may run
	// later.
	c.denied.note(c.nc.LastError(), c.cfg.Certificate)
	return c.denied.take()
}

// Close closes the connection; pending messages are not drained. It is
// safe to call more than once.
// Close closes the connection. It returns once nats.go has run the
// callbacks queued before the close (errors the broker sent are logged),
// or after closeWait, so nothing is logged after Close returns.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.nc.Close()
		select {
		case <-c.closed:
		case <-time.After(closeWait):
		}
		c.log.Info("connection closed")
	})
	return nil
}

// closeWait bounds how long Close waits for nats.go's callbacks.
const closeWait = 2 * time.Second

// Stats reports how often the connection reconnected and whether it is
// connected now.
func (c *Conn) Stats() (reconnects uint64, connected bool) {
	return c.nc.Stats().Reconnects, c.nc.IsConnected()
}

// NATS is the underlying nats.go connection, for what shares this
// connection beside the connector: a node's audit records published to
// JetStream with acknowledgements (aaa/audit NewJetStreamOn), which
// need NATS headers and the reply field the connector itself never
// uses. Its users must not close or drain it (Close does) and keep to
// what the broker lets the certificate do.
func (c *Conn) NATS() *natsgo.Conn { return c.nc }

// mapErr turns nats.go's closed-connection errors into connector.ErrClosed
// (keeping nats.go's error in the chain).
func (c *Conn) mapErr(err error) error {
	if errors.Is(err, natsgo.ErrConnectionClosed) || errors.Is(err, natsgo.ErrBadSubscription) && c.nc.IsClosed() {
		return fmt.Errorf("%w: %w", connector.ErrClosed, err)
	}
	return err
}

type subscription struct {
	sub  *natsgo.Subscription
	conn *Conn
	once sync.Once
	err  error
}

// Unsubscribe ends the subscription. Calling it again returns the first
// call's result.
func (s *subscription) Unsubscribe() error {
	s.once.Do(func() {
		if err := s.sub.Unsubscribe(); err != nil {
			s.err = fmt.Errorf("unsubscribe from %s: %w", s.sub.Subject, s.conn.mapErr(err))
		}
	})
	return s.err
}
