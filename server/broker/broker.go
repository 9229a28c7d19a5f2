// Package broker runs tutti's embedded NATS broker (nats-server) inside the
// tuttid process, as Choria's "network broker" does.
//
// The broker always requires mutual TLS: clients and cluster peers must
// present a certificate signed by a CA the broker trusts, and the broker
// refuses any configuration that would weaken that (no TLS, no client CAs,
// InsecureSkipVerify).
//
// Unlike go-choria's broker in its default (x509) mode, which lets any
// verified certificate publish and subscribe anywhere, it also authorizes
// every client connection by its verified certificate (Authorization):
// the certificate's name gives it a role (admin, privileged, client or
// node) and the role a set of NATS permissions that nats-server compiles
// for the connection and enforces per subscription and publish. A refused
// publish or subscribe is logged with the certificate, role and subject
// and counted (Denials). Cluster routes are authenticated by their TLS
// certificates only.
package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/sirupsen/logrus"
)

// Defaults applied by New.
const (
	// DefaultClusterName is the cluster name when Config.ClusterName is empty.
	DefaultClusterName = "tutti"
	// DefaultMaxPayload caps one message (4 MiB, plugin.tutti.max_message_size).
	DefaultMaxPayload int32 = 4 << 20
	// DefaultListenAddress is used when Config.ListenAddress is empty.
	DefaultListenAddress = "::"
	// DefaultClientPort is the NATS client port (Choria's default).
	DefaultClientPort = 4222

	// tlsTimeout bounds a TLS handshake, in seconds. nats-server's default
	// (2s) is tight for RSA keys on a busy host.
	tlsTimeout = 5
	// readyPoll is how long one ReadyForConnections probe waits before
	// Start checks its context and fatal errors again.
	readyPoll = 100 * time.Millisecond
)

// ErrConfig is wrapped by every configuration refusal from New.
var ErrConfig = errors.New("invalid broker configuration")

// Config is the embedded broker's configuration section.
type Config struct {
	// ListenAddress is the address to listen on: "::", "0.0.0.0",
	// "127.0.0.1"… (default "::").
	ListenAddress string
	// ClientPort is the client port; 0 means 4222, -1 a random port (tests).
	ClientPort int
	// TLS is the server TLS configuration: Certificates plus ClientCAs
	// (the CA that signs node and client certificates). Required. Client
	// certificates are always required and verified. A configuration
	// with GetConfigForClient (x509.Provider.BrokerTLS) is asked for
	// every handshake, so rotating its certificate, CA or CRL needs no
	// restart; what it returns is held to the same rules. It still needs
	// ClientCAs or RootCAs: routes this broker dials verify peers with it.
	TLS *tls.Config
	// PeerPort is the cluster (route) port: 0 = no cluster, -1 = random.
	PeerPort int
	// Peers are nats://host:port URLs of other brokers' cluster ports.
	// Listing this broker itself is harmless.
	Peers []string
	// ClusterTLS secures routes; nil means TLS. Routes are mutually
	// authenticated: RootCAs verify the peers we dial, ClientCAs the peers
	// that dial us (each defaults to the other when unset).
	ClusterTLS *tls.Config
	// ClusterName defaults to "tutti".
	ClusterName string
	// ServerName names this broker in the cluster and in monitoring.
	ServerName string
	// MonitorPort enables HTTP monitoring (/varz, /connz…): 0 = off,
	// -1 = random.
	MonitorPort int
	// JetStreamDir enables JetStream with its store in this directory.
	JetStreamDir string
	// AuditStream is the audit stream the broker creates when JetStream
	// is on.
	AuditStream AuditStream
	// MaxPayload caps a message in bytes (default 4 MiB).
	MaxPayload int32
	// Authorization maps verified certificates to permissions; the zero
	// value applies the defaults (see Authorization).
	Authorization Authorization
	// LeafPort is the leafnode port other data centres' brokers connect
	// to: 0 = off, -1 = random (links.go).
	LeafPort int
	// LeafAdvertise is the host:port this broker tells leafnodes to
	// reconnect to (a NAT or load balancer address); empty = the listen
	// address and port. Leafnodes fail over to it besides their remotes.
	LeafAdvertise string
	// LeafRemotes are hubs this broker connects to as a leafnode.
	LeafRemotes []LeafRemote
	// GatewayName names this cluster among gateways; GatewayPort is the
	// gateway port (0 = off, -1 = random); GatewayRemotes the other
	// clusters.
	GatewayName    string
	GatewayPort    int
	GatewayRemotes []GatewayRemote
	// LinkCertificates are regexes of the certificate names a cluster
	// route, leafnode or gateway link may present (the brokers');
	// required with a cluster (PeerPort) and with links.
	LinkCertificates []string
	// JetStreamDomain names this data centre's JetStream, so that a hub
	// can source its audit stream across a leafnode link.
	JetStreamDomain string
	// Log receives nats-server's log lines. Required.
	Log *logrus.Entry
}

// Broker is one embedded nats-server. A Broker starts once; to restart,
// Shutdown it and create a new one with the same Config.
type Broker struct {
	srv     *server.Server
	cfg     Config
	log     *logger
	policy  *policy
	denials *Denials
	once    sync.Once
	// internal is the token of the broker's own in-process connection
	// (audit stream management).
	internal   string
	auditReady chan struct{}
	crlReady   chan struct{}
	// jsSetup serialises the broker's own stream and bucket creation:
	// nats-server 2.12.1 races (go test -race) when two stream updates
	// run at once, as the audit stream's and the buckets' did at start.
	jsSetup sync.Mutex
	chains  *connChains
	quit    chan struct{}
}

// New validates cfg and prepares a broker. It does not listen yet.
func New(cfg Config) (*Broker, error) {
	if cfg.Log == nil {
		return nil, fmt.Errorf("%w: a logger is required", ErrConfig)
	}
	opts, err := buildOptions(&cfg)
	if err != nil {
		return nil, err
	}
	pol, err := cfg.Authorization.compile()
	if err != nil {
		return nil, err
	}
	internal, err := newInternalToken()
	if err != nil {
		return nil, err
	}
	if pol.links, err = compileAll("link certificates", cfg.LinkCertificates); err != nil {
		return nil, err
	}
	pol.linkAudit = linkAudit(cfg.AuditStream.Subjects)
	b := &Broker{cfg: cfg, policy: pol, denials: newDenials(), internal: internal,
		auditReady: make(chan struct{}), crlReady: make(chan struct{}), chains: &connChains{}, quit: make(chan struct{})}
	authLog := cfg.Log.WithField("source", "authorization")
	opts.CustomClientAuthentication = &authenticator{p: pol, log: authLog, stats: b.denials, internal: internal, chains: b.chains}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("create broker: %w", err)
	}
	b.srv = srv
	b.log = newLogger(cfg.Log)
	b.log.violation = func(v violation) { b.denied(authLog, v) }
	level := cfg.Log.Logger.GetLevel()
	srv.SetLoggerV2(b.log, level >= logrus.DebugLevel, level >= logrus.TraceLevel, false)
	return b, nil
}

// denied logs and counts a refused publish or subscribe.
func (b *Broker) denied(l *logrus.Entry, v violation) {
	role, err := b.policy.role(v.certificate)
	if err != nil {
		role = "unknown"
	}
	b.denials.deny(DenialKey{Operation: v.operation, Role: role})
	l.WithFields(logrus.Fields{"certificate": v.certificate, "role": role, "operation": v.operation, "subject": v.subject}).
		Warn("permission denied")
}

// Denials are the publishes, subscribes and connections refused so far.
func (b *Broker) Denials() *Denials { return b.denials }

// buildOptions turns cfg into nats-server options, applying defaults and
// refusing anything that would weaken mutual TLS.
func buildOptions(cfg *Config) (*server.Options, error) {
	if cfg.ListenAddress == "" {
		cfg.ListenAddress = DefaultListenAddress
	}
	if cfg.ClientPort == 0 {
		cfg.ClientPort = DefaultClientPort
	}
	if cfg.MaxPayload == 0 {
		cfg.MaxPayload = DefaultMaxPayload
	}
	if cfg.MaxPayload < 0 {
		return nil, fmt.Errorf("%w: MaxPayload %d is negative", ErrConfig, cfg.MaxPayload)
	}
	if cfg.ClusterName == "" {
		cfg.ClusterName = DefaultClusterName
	}
	clientTLS, err := serverTLS("TLS", cfg.TLS)
	if err != nil {
		return nil, err
	}
	opts := &server.Options{
		ServerName: cfg.ServerName,
		Host:       cfg.ListenAddress,
		Port:       cfg.ClientPort,
		TLSConfig:  clientTLS,
		TLSVerify:  true,
		TLSTimeout: tlsTimeout,
		MaxPayload: cfg.MaxPayload,
		NoSigs:     true, // the process owns signals, not the broker
	}
	if cfg.MonitorPort != 0 {
		opts.HTTPHost = cfg.ListenAddress
		opts.HTTPPort = cfg.MonitorPort
	}
	if cfg.JetStreamDir != "" {
		opts.JetStream = true
		opts.StoreDir = cfg.JetStreamDir
	}
	for _, d := range cfg.AuditStream.Sources {
		if !validToken(d) || d == cfg.JetStreamDomain {
			return nil, fmt.Errorf("%w: audit stream source %q is not another data centre's JetStream domain (one subject token, not this broker's own)", ErrConfig, d)
		}
	}
	if cfg.PeerPort == 0 && len(cfg.Peers) > 0 {
		return nil, fmt.Errorf("%w: Peers are set but PeerPort is 0 (clustering off)", ErrConfig)
	}
	if cfg.PeerPort != 0 && cfg.JetStreamDir != "" && cfg.ServerName == "" {
		// a JetStream peer is known by a hash of its name: without one it
		// would be a new, random peer at every start
		return nil, fmt.Errorf("%w: JetStream in a cluster needs a ServerName unique to this broker", ErrConfig)
	}
	if cfg.PeerPort != 0 {
		if err := clusterOptions(cfg, opts); err != nil {
			return nil, err
		}
	}
	if err := linkOptions(cfg, opts); err != nil {
		return nil, err
	}
	return opts, nil
}

func clusterOptions(cfg *Config, opts *server.Options) error {
	ctls := cfg.ClusterTLS
	if ctls == nil {
		ctls = cfg.TLS
	}
	routeTLS, err := serverTLS("ClusterTLS", ctls)
	if err != nil {
		return err
	}
	if routeTLS.RootCAs == nil {
		routeTLS.RootCAs = routeTLS.ClientCAs
	}

	opts.Cluster = server.ClusterOpts{
		Name:       cfg.ClusterName,
		Host:       cfg.ListenAddress,
		Port:       cfg.PeerPort,
		TLSConfig:  routeTLS,
		TLSTimeout: tlsTimeout,
	}
	for _, p := range cfg.Peers {
		u, err := parsePeer(p)
		if err != nil {
			return err
		}
		opts.Routes = append(opts.Routes, u)
	}
	links, err := compileAll("link certificates", cfg.LinkCertificates)
	if err != nil {
		return err
	}
	if len(links) == 0 {
		return fmt.Errorf("%w: a cluster (PeerPort) needs LinkCertificates (plugin.tutti.broker.link_certificates): "+
			"the fleet CA also signs node and client certificates, and any of them could otherwise join as a broker "+
			"and read and write every subject", ErrConfig)
	}
	// both ways: a peer connecting to this broker's cluster port and the
	// peer this broker connects to must present a link certificate
	opts.Cluster.TLSConfig = withNameCheck(routeTLS, linkCheck(links))
	return nil
}

// serverTLS clones c and forces verified client certificates.
func serverTLS(field string, c *tls.Config) (*tls.Config, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: %s is required: the broker only accepts mutually authenticated TLS", ErrConfig, field)
	}
	if c.InsecureSkipVerify {
		return nil, fmt.Errorf("%w: %s.InsecureSkipVerify is set; certificate verification cannot be disabled", ErrConfig, field)
	}
	if len(c.Certificates) == 0 && c.GetCertificate == nil && c.GetConfigForClient == nil {
		return nil, fmt.Errorf("%w: %s has no server certificate", ErrConfig, field)
	}
	out := c.Clone()
	if out.ClientCAs == nil {
		out.ClientCAs = out.RootCAs
	}
	if out.ClientCAs == nil {
		return nil, fmt.Errorf("%w: %s has no ClientCAs (or RootCAs) to verify client certificates", ErrConfig, field)
	}
	out.ClientAuth = tls.RequireAndVerifyClientCert
	if out.MinVersion < tls.VersionTLS12 {
		out.MinVersion = tls.VersionTLS12
	}
	if get := out.GetConfigForClient; get != nil {
		out.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			return enforceMutualTLS(field, get, hello)
		}
	}
	return out, nil
}

// enforceMutualTLS calls a configuration's GetConfigForClient (a
// reloadable source such as x509.Provider.BrokerTLS) and holds the
// configuration it returns for this handshake to the same rules as the
// static one: verified client certificates, TLS 1.2 or later. A nil
// configuration means the outer, already enforced, one.
func enforceMutualTLS(field string, get func(*tls.ClientHelloInfo) (*tls.Config, error), hello *tls.ClientHelloInfo) (*tls.Config, error) {
	c, err := get(hello)
	if err != nil || c == nil {
		return c, err
	}
	if c.InsecureSkipVerify {
		return nil, fmt.Errorf("%s: the per-connection configuration sets InsecureSkipVerify; refused", field)
	}
	if c.ClientCAs == nil {
		return nil, fmt.Errorf("%s: the per-connection configuration has no ClientCAs to verify the client certificate", field)
	}
	if c.ClientAuth != tls.RequireAndVerifyClientCert || c.MinVersion < tls.VersionTLS12 {
		c = c.Clone()
		c.ClientAuth = tls.RequireAndVerifyClientCert
		c.MinVersion = max(c.MinVersion, tls.VersionTLS12)
	}
	return c, nil
}

func parsePeer(p string) (*url.URL, error) {
	s := strings.TrimSpace(p)
	if !strings.Contains(s, "://") {
		s = "nats://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%w: peer %q: %w", ErrConfig, p, err)
	}
	if u.Hostname() == "" || u.Port() == "" {
		return nil, fmt.Errorf("%w: peer %q: want nats://host:port", ErrConfig, p)
	}
	switch u.Scheme {
	case "nats", "tls", "nats-route":
	default:
		return nil, fmt.Errorf("%w: peer %q: unsupported scheme %q", ErrConfig, p, u.Scheme)
	}
	return u, nil
}

// Start starts the broker in the background and returns once it accepts
// client (and, if clustered, route) connections. It fails when ctx ends
// first or when nats-server reports a fatal error such as a port in use;
// the broker is then shut down.
func (b *Broker) Start(ctx context.Context) error {
	b.srv.Start()
	for {
		ready := b.srv.ReadyForConnections(readyPoll)
		select {
		case <-b.log.fatal: // even if ready: some part (monitoring, JetStream) failed
			b.Shutdown()
			return fmt.Errorf("start broker on %s: %w", b.listenDesc(), b.log.fatalErr())
		default:
		}
		if ready {
			b.cfg.Log.WithField("url", b.ClientURL()).Info("broker ready")
			if b.cfg.JetStreamDir != "" && !b.cfg.AuditStream.Off {
				go b.manageAuditStream()
			}
			if b.cfg.JetStreamDir != "" {
				go b.manageCRLBucket()
			}
			return nil
		}
		select {
		case <-ctx.Done():
			b.Shutdown()
			return fmt.Errorf("start broker on %s: not ready: %w", b.listenDesc(), ctx.Err())
		default:
		}
	}
}

func (b *Broker) listenDesc() string {
	return net.JoinHostPort(b.cfg.ListenAddress, strconv.Itoa(b.cfg.ClientPort))
}

// ClientURL is the URL a local client dials: nats://host:port with the
// actual port (clients must use TLS). A wildcard listen address is
// replaced by 127.0.0.1. Empty before Start.
func (b *Broker) ClientURL() string {
	addr, ok := b.srv.Addr().(*net.TCPAddr)
	if !ok || addr == nil {
		return ""
	}
	return "nats://" + net.JoinHostPort(localHost(b.cfg.ListenAddress), strconv.Itoa(addr.Port))
}

// ClusterURL is the URL other brokers list in Peers to reach this one's
// cluster port. Empty when clustering is off or before Start.
func (b *Broker) ClusterURL() string {
	addr := b.srv.ClusterAddr()
	if addr == nil {
		return ""
	}
	return "nats://" + net.JoinHostPort(localHost(b.cfg.ListenAddress), strconv.Itoa(addr.Port))
}

// MonitorURL is the HTTP monitoring base URL (http://host:port), empty
// when monitoring is off or before Start.
func (b *Broker) MonitorURL() string {
	addr := b.srv.MonitorAddr()
	if addr == nil {
		return ""
	}
	return "http://" + net.JoinHostPort(localHost(b.cfg.ListenAddress), strconv.Itoa(addr.Port))
}

func localHost(listen string) string {
	switch listen {
	case "", "::", "0.0.0.0", "[::]":
		return "127.0.0.1"
	}
	return strings.Trim(listen, "[]")
}

// NumClients is the number of connected clients.
func (b *Broker) NumClients() int { return b.srv.NumClients() }

// NumRoutes is the number of route connections to cluster peers.
func (b *Broker) NumRoutes() int { return b.srv.NumRoutes() }

// NumLeafNodes is the number of leafnode links, either direction.
func (b *Broker) NumLeafNodes() int { return b.srv.NumLeafNodes() }

// NumGateways is the number of outbound gateway links.
func (b *Broker) NumGateways() int { return b.srv.NumOutboundGateways() }

// LeafURL is the URL another data centre's broker lists in its leafnode
// remotes. Empty when the leafnode port is off or before Start.
func (b *Broker) LeafURL() string {
	if b.cfg.LeafPort <= 0 || !b.srv.Running() {
		return ""
	}
	return b.listenerURL(&net.TCPAddr{Port: b.cfg.LeafPort})
}

// GatewayURL is the URL other clusters list in their gateway remotes.
// Empty when gateways are off or before Start.
func (b *Broker) GatewayURL() string {
	return b.listenerURL(b.srv.GatewayAddr())
}

func (b *Broker) listenerURL(addr *net.TCPAddr) string {
	if addr == nil {
		return ""
	}
	return "nats://" + net.JoinHostPort(localHost(b.cfg.ListenAddress), strconv.Itoa(addr.Port))
}

// Shutdown stops the broker and waits until it has stopped. It is safe to
// call more than once and from several goroutines.
func (b *Broker) Shutdown() {
	b.once.Do(func() {
		close(b.quit)
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
		b.cfg.Log.Info("broker stopped")
	})
}

// Done is closed when Shutdown begins.
func (b *Broker) Done() <-chan struct{} { return b.quit }

// Server is the underlying nats-server, for tests and metrics.
func (b *Broker) Server() *server.Server { return b.srv }
