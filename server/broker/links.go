package broker

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/tuttifleet/tutti/security/x509"
)

// Links between data centres: leafnodes and gateways, nats-server's own.
//
// Every link is mutual TLS with the fleet CA, and the certificate at the
// other end must also match LinkCertificates: a fleet CA signs node and
// client certificates too, and a node certificate that could open a
// leafnode or gateway connection would be treated as a broker and receive
// every caller's replies. Each broker still enforces the per-certificate
// roles on its own clients, so a client in one data centre reads only its
// own replies whichever broker it connects to.

// DefaultLeafPort and DefaultGatewayPort are nats-server's usual ports,
// for documentation; a zero port means the listener is off.
const (
	DefaultLeafPort    = 7422
	DefaultGatewayPort = 7222
)

// RoleLeafnode is a broker of another data centre connected to this one's
// leafnode port with a link certificate (Config.LinkCertificates).
const RoleLeafnode Role = "leafnode"

// LeafRemote is a hub this broker connects to as a leafnode
// (plugin.choria.network.leafnode_remote.<name>.*).
type LeafRemote struct {
	// Name is the remote's name in the configuration, for logs.
	Name string
	// URLs are the hub's leafnode URLs, nats://host:port (or
	// tls://, nats-leaf://); one is chosen and the others are failovers.
	URLs []string
	// TLS is the client TLS of this link; nil means the broker's TLS
	// (its certificate, its CA).
	TLS *tls.Config
}

// GatewayRemote is another cluster this one's gateway connects to
// (plugin.choria.network.gateway_remote.<name>.*).
type GatewayRemote struct {
	// Name is the remote cluster's gateway name.
	Name string
	// URLs are that cluster's gateway URLs.
	URLs []string
	// TLS is this link's TLS; nil means the broker's TLS.
	TLS *tls.Config
}

// linkAudit are the subjects that never cross a leafnode link: each data
// centre's records reach the central stream by JetStream sourcing only,
// so a record is stored once per data centre and once centrally, never
// captured twice by way of the link.
func linkAudit(subjects []string) []string {
	if len(subjects) == 0 {
		return DefaultAuditStreamSubjects
	}
	return subjects
}

// linkOptions adds the leafnode and gateway settings of cfg to opts.
func linkOptions(cfg *Config, opts *server.Options) error {
	if cfg.LeafPort == 0 && len(cfg.LeafRemotes) == 0 && cfg.GatewayPort == 0 && len(cfg.GatewayRemotes) == 0 {
		if cfg.GatewayName != "" {
			return fmt.Errorf("%w: GatewayName is set but GatewayPort is 0 (gateways off)", ErrConfig)
		}
		return nil
	}
	links, err := compileAll("link certificates", cfg.LinkCertificates)
	if err != nil {
		return err
	}
	if len(links) == 0 {
		return fmt.Errorf("%w: leafnode or gateway links need LinkCertificates (plugin.tutti.broker.link_certificates): "+
			"the fleet CA also signs node and client certificates, and any of them could otherwise connect as a broker and read every reply", ErrConfig)
	}
	check := linkCheck(links)
	if cfg.JetStreamDomain != "" {
		if !validToken(cfg.JetStreamDomain) {
			return fmt.Errorf("%w: JetStream domain %q is not one subject token", ErrConfig, cfg.JetStreamDomain)
		}
		opts.JetStreamDomain = cfg.JetStreamDomain
	}
	if err := leafOptions(cfg, opts, check); err != nil {
		return err
	}
	return gatewayOptions(cfg, opts, check)
}

func leafOptions(cfg *Config, opts *server.Options, check func(string) error) error {
	deny := linkAudit(cfg.AuditStream.Subjects)
	for _, r := range cfg.LeafRemotes {
		urls, err := linkURLs("leafnode remote "+r.Name, r.URLs, "nats", "tls", "nats-leaf")
		if err != nil {
			return err
		}
		c, err := linkTLS("leafnode remote "+r.Name, r.TLS, cfg.TLS, check)
		if err != nil {
			return err
		}
		opts.LeafNode.Remotes = append(opts.LeafNode.Remotes, &server.RemoteLeafOpts{
			URLs: urls, TLS: true, TLSConfig: c, TLSTimeout: tlsTimeout,
			DenyImports: deny, DenyExports: deny,
		})
	}
	if cfg.LeafPort == 0 {
		return nil
	}
	if cfg.LeafPort == -1 {
		// nats-server does not tell which port it chose for "random"
		port, err := freePort(cfg.ListenAddress)
		if err != nil {
			return err
		}
		cfg.LeafPort = port
	}
	c, err := serverTLS("leafnode TLS", cfg.TLS)
	if err != nil {
		return err
	}
	opts.LeafNode.Host = cfg.ListenAddress
	opts.LeafNode.Port = cfg.LeafPort
	opts.LeafNode.TLSConfig = c
	opts.LeafNode.TLSTimeout = tlsTimeout
	opts.LeafNode.Advertise = cfg.LeafAdvertise
	return nil
}

func gatewayOptions(cfg *Config, opts *server.Options, check func(string) error) error {
	if cfg.GatewayPort == 0 {
		if len(cfg.GatewayRemotes) > 0 {
			return fmt.Errorf("%w: gateway remotes are set but GatewayPort is 0 (gateways off)", ErrConfig)
		}
		return nil
	}
	if cfg.GatewayName == "" || !validToken(cfg.GatewayName) {
		return fmt.Errorf("%w: a gateway needs GatewayName, one subject token (got %q)", ErrConfig, cfg.GatewayName)
	}
	if cfg.ClusterName != DefaultClusterName && cfg.ClusterName != cfg.GatewayName {
		return fmt.Errorf("%w: ClusterName %q and GatewayName %q differ: a gateway names its cluster", ErrConfig, cfg.ClusterName, cfg.GatewayName)
	}
	srv, err := serverTLS("gateway TLS", cfg.TLS)
	if err != nil {
		return err
	}
	srv = withNameCheck(srv, check)
	if srv.RootCAs == nil {
		srv.RootCAs = srv.ClientCAs
	}
	opts.Gateway = server.GatewayOpts{
		Name: cfg.GatewayName, Host: cfg.ListenAddress, Port: cfg.GatewayPort,
		TLSConfig: srv, TLSTimeout: tlsTimeout, RejectUnknown: true,
	}
	// A gateway's cluster name is its gateway name.
	opts.Cluster.Name = cfg.GatewayName
	for _, r := range cfg.GatewayRemotes {
		if !validToken(r.Name) {
			return fmt.Errorf("%w: gateway remote name %q is not one subject token", ErrConfig, r.Name)
		}
		urls, err := linkURLs("gateway remote "+r.Name, r.URLs, "nats", "tls", "nats-route")
		if err != nil {
			return err
		}
		c, err := linkTLS("gateway remote "+r.Name, r.TLS, cfg.TLS, check)
		if err != nil {
			return err
		}
		opts.Gateway.Gateways = append(opts.Gateway.Gateways, &server.RemoteGatewayOpts{
			Name: r.Name, URLs: urls, TLSConfig: c, TLSTimeout: tlsTimeout,
		})
	}
	return nil
}

// freePort is a port free on host now (tests' random leafnode port).
func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(strings.Trim(host, "[]"), "0"))
	if err != nil {
		return 0, fmt.Errorf("random leafnode port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// linkURLs parses a link's URLs.
func linkURLs(what string, in []string, schemes ...string) ([]*url.URL, error) {
	if len(in) == 0 {
		return nil, fmt.Errorf("%w: %s has no URLs", ErrConfig, what)
	}
	out := make([]*url.URL, 0, len(in))
	for _, s := range in {
		s = strings.TrimSpace(s)
		if !strings.Contains(s, "://") {
			s = "nats://" + s
		}
		u, err := url.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %s URL %q: %w", ErrConfig, what, s, err)
		}
		if u.Hostname() == "" || u.Port() == "" {
			return nil, fmt.Errorf("%w: %s URL %q: want nats://host:port", ErrConfig, what, s)
		}
		if u.User != nil {
			return nil, fmt.Errorf("%w: %s URL %q: links authenticate by certificate, not user or password", ErrConfig, what, s)
		}
		ok := false
		for _, sc := range schemes {
			ok = ok || u.Scheme == sc
		}
		if !ok {
			return nil, fmt.Errorf("%w: %s URL %q: scheme %q is not one of %v", ErrConfig, what, s, u.Scheme, schemes)
		}
		out = append(out, u)
	}
	return out, nil
}

// linkTLS is the TLS of a link this broker dials: own (the link's own
// files) or else the broker's, holding the peer to the fleet CA and to the
// link certificate names.
func linkTLS(what string, own, broker *tls.Config, check func(string) error) (*tls.Config, error) {
	c := own
	if c == nil {
		c = broker
	}
	if c == nil {
		return nil, fmt.Errorf("%w: %s: TLS is required: every link is mutually authenticated", ErrConfig, what)
	}
	if c.InsecureSkipVerify {
		return nil, fmt.Errorf("%w: %s: InsecureSkipVerify is set; certificate verification cannot be disabled", ErrConfig, what)
	}
	if len(c.Certificates) == 0 && c.GetClientCertificate == nil {
		return nil, fmt.Errorf("%w: %s: no certificate to present to the other broker", ErrConfig, what)
	}
	out := c.Clone()
	if out.RootCAs == nil {
		out.RootCAs = out.ClientCAs
	}
	if out.RootCAs == nil {
		return nil, fmt.Errorf("%w: %s: no CA to verify the other broker with", ErrConfig, what)
	}
	out.MinVersion = max(out.MinVersion, tls.VersionTLS12)
	return withNameCheck(out, check), nil
}

// withNameCheck makes c (and what its GetConfigForClient returns) also
// refuse a peer whose certificate name check refuses, after the
// verification c already does.
func withNameCheck(c *tls.Config, check func(string) error) *tls.Config {
	c = c.Clone()
	c.VerifyConnection = chainVerify(c.VerifyConnection, check)
	if get := c.GetConfigForClient; get != nil {
		c.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			inner, err := get(hello)
			if err != nil || inner == nil {
				return inner, err
			}
			inner = inner.Clone()
			inner.VerifyConnection = chainVerify(inner.VerifyConnection, check)
			return inner, nil
		}
	}
	return c
}

func chainVerify(prev func(tls.ConnectionState) error, check func(string) error) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if prev != nil {
			if err := prev(cs); err != nil {
				return err
			}
		}
		if len(cs.PeerCertificates) == 0 {
			return fmt.Errorf("link: the other broker presented no certificate")
		}
		return check(x509.CertName(cs.PeerCertificates[0]))
	}
}

// linkCheck refuses certificate names that match none of links.
func linkCheck(links []*regexp.Regexp) func(string) error {
	return func(name string) error {
		if !matches(links, name) {
			return fmt.Errorf("%w: certificate %q is not a link certificate (plugin.tutti.broker.link_certificates)", ErrRefused, name)
		}
		return nil
	}
}

// leafPerms are what a leafnode link may do, from the leaf's side as
// nats-server reads them (publish: into this broker; subscribe: out of
// it): everything a broker of the fabric carries, except the system
// account's subjects and the audit subjects, which reach the central
// stream by sourcing only.
func leafPerms(audit []string) *server.Permissions {
	deny := append([]string{"$SYS.>"}, linkAudit(audit)...)
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: []string{">"}, Deny: deny},
		Subscribe: &server.SubjectPermission{Allow: []string{">"}, Deny: deny},
	}
}
