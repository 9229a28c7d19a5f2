package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

var (
	identityRE   = regexp.MustCompile(`^[\w.\-]+$`)
	collectiveRE = regexp.MustCompile(`^[\w\-]+$`)
)

// maxPoolSize bounds plugin.activemq.pool.size.
const maxPoolSize = 64

// readCommon reads the shared section. certname picks the certificate name
// of the puppet provider from the identity.
func readCommon(r *reader, certname func(identity string) string) Common {
	var c Common
	c.Identity = r.str("identity", "")
	if c.Identity == "" {
		c.Identity = defaultIdentity()
		if !identityRE.MatchString(c.Identity) {
			r.invalid("identity", "host name %q is not a valid identity; set identity", clip(c.Identity))
		}
	} else if !identityRE.MatchString(c.Identity) {
		r.invalid("identity", `%q does not match ^[\w.\-]+$`, clip(c.Identity))
	}
	c.Collectives = r.list("collectives", []string{defaultCollective})
	for _, col := range c.Collectives {
		if !collectiveRE.MatchString(col) {
			r.invalid("collectives", `collective %q does not match ^[\w\-]+$`, clip(col))
		}
	}
	c.MainCollective = r.str("main_collective", c.Collectives[0])
	if !slices.Contains(c.Collectives, c.MainCollective) {
		r.invalid("main_collective", "%q is not one of collectives (%s)", clip(c.MainCollective), strings.Join(c.Collectives, ","))
	}
	c.Connector = r.enum("connector", defaultConnector)
	c.NATS = readNATS(r)
	if c.Connector != "nats" {
		c.ActiveMQ = readSTOMP(r, c.Connector)
	}
	c.Security = readSecurity(r, certname(c.Identity))
	c.SSL = readSSLPlugin(r)
	c.Logging = readLogging(r)
	c.MaxMessageSize = r.int("plugin.tutti.max_message_size", defaultMaxMessageSize)
	if c.MaxMessageSize <= 0 {
		r.invalid("plugin.tutti.max_message_size", "must be positive")
		c.MaxMessageSize = defaultMaxMessageSize
	}
	return c
}

// readSSLPlugin reads MCollective's ssl plugin keys; they are used only
// with securityprovider = ssl.
func readSSLPlugin(r *reader) SSLPlugin {
	s := SSLPlugin{
		ServerPrivate: r.path("plugin.ssl_server_private", ""),
		ServerPublic:  r.path("plugin.ssl_server_public", ""),
		ClientCertDir: r.path("plugin.ssl_client_cert_dir", ""),
		ClientPrivate: envOr("MCOLLECTIVE_SSL_PRIVATE", r.path("plugin.ssl_client_private", "")),
		ClientPublic:  envOr("MCOLLECTIVE_SSL_PUBLIC", r.path("plugin.ssl_client_public", "")),
		Serializer:    r.enum("plugin.ssl_serializer", "marshal"),
	}
	switch p := r.str("securityprovider", ""); p {
	case "ssl":
		s.Enabled = true
	case "", "choria":
	default:
		r.invalid("securityprovider", "%q is not supported: tutti speaks Choria's security (leave it unset) or MCollective's ssl plugin (ssl)", clip(p))
	}
	return s
}

func readNATS(r *reader) NATS {
	const hostsKey = "plugin.choria.middleware_hosts"
	n := NATS{
		UseSRV:      r.bool("plugin.choria.use_srv", true),
		SRVDomain:   envOr("CHORIA_SRV_DOMAIN", r.str("plugin.choria.srv_domain", "")),
		User:        envOr("MCOLLECTIVE_NATS_USERNAME", r.str("plugin.nats.user", "")),
		Pass:        envOr("MCOLLECTIVE_NATS_PASSWORD", r.str("plugin.nats.pass", "")),
		Credentials: envOr("MCOLLECTIVE_NATS_CREDENTIALS", r.path("plugin.nats.credentials", "")),
	}
	for _, h := range r.list(hostsKey, nil) {
		u, err := NormalizeNATSURL(h)
		if err != nil {
			r.fail(hostsKey, err)
			continue
		}
		n.Hosts = append(n.Hosts, u)
	}
	return n
}

// NormalizeNATSURL turns "host", "host:port" or "nats://host:port" into
// "nats://host:port" (port 4222 when missing); tls:// is kept. Other
// schemes, paths and bad ports are refused with ErrInvalidValue.
func NormalizeNATSURL(s string) (string, error) {
	scheme, hostport := "nats", s
	if i := strings.Index(s, "://"); i >= 0 {
		u, err := url.Parse(s)
		if err != nil {
			return "", fmt.Errorf("%w: broker %q: %w", ErrInvalidValue, clip(s), err)
		}
		if u.Scheme != "nats" && u.Scheme != "tls" {
			return "", fmt.Errorf("%w: broker %q: scheme must be nats:// or tls://", ErrInvalidValue, clip(s))
		}
		if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return "", fmt.Errorf("%w: broker %q: only scheme://host:port is allowed", ErrInvalidValue, clip(s))
		}
		scheme, hostport = u.Scheme, u.Host
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = strings.Trim(hostport, "[]"), strconv.Itoa(defaultNATSPort)
	}
	if p, perr := strconv.Atoi(port); perr != nil || p < 1 || p > 65535 {
		return "", fmt.Errorf("%w: broker %q: bad port %q", ErrInvalidValue, clip(s), clip(port))
	}
	if host == "" || strings.ContainsAny(host, "/ @?#") {
		return "", fmt.Errorf("%w: broker %q: bad host", ErrInvalidValue, clip(s))
	}
	return scheme + "://" + net.JoinHostPort(host, port), nil
}

func readSTOMP(r *reader, name string) ActiveMQ {
	p := "plugin." + name + "."
	a := ActiveMQ{
		VHost:                 r.str(p+"vhost", stompVHost(name)),
		Randomize:             r.bool(p+"randomize", false),
		HeartbeatInterval:     r.duration(p+"heartbeat_interval", 0),
		InitialReconnectDelay: r.duration(p+"initial_reconnect_delay", defaultInitialReconnect),
		MaxReconnectDelay:     r.duration(p+"max_reconnect_delay", defaultMaxReconnect),
		BackOffMultiplier:     r.float(p+"back_off_multiplier", defaultBackOff),
		MaxReconnectAttempts:  r.int(p+"max_reconnect_attempts", 0),
		ConnectTimeout:        r.duration(p+"connect_timeout", defaultConnectTimeout),
	}
	if a.HeartbeatInterval > 0 && a.HeartbeatInterval.Seconds() < 30 {
		r.invalid(p+"heartbeat_interval", "must be at least 30 seconds when set")
	}
	if !r.bool(p+"use_exponential_back_off", true) {
		a.BackOffMultiplier = 1
	} else if a.BackOffMultiplier < 1 {
		r.invalid(p+"back_off_multiplier", "must be at least 1")
	}
	if a.MaxReconnectAttempts < 0 {
		r.invalid(p+"max_reconnect_attempts", "must not be negative")
	}
	size := r.int(p+"pool.size", 0)
	if size < 1 || size > maxPoolSize {
		r.invalid(p+"pool.size", "connector %s needs 1 to %d brokers, got %d", name, maxPoolSize, size)
		return a
	}
	for i := 1; i <= size; i++ {
		a.Pool = append(a.Pool, readPoolMember(r, p, i))
	}
	return a
}

// stompVHost is a STOMP connector's default vhost: "mcollective" for
// ActiveMQ, RabbitMQ's default virtual host "/" for rabbitmq, as in
// MCollective's connectors.
func stompVHost(name string) string {
	if name == "rabbitmq" {
		return defaultRabbitMQVHost
	}
	return defaultVHost
}

// stompEnv is the prefix of a pool member's certificate environment
// variables: MCOLLECTIVE_ACTIVEMQ_POOL<n>_SSL_ or
// MCOLLECTIVE_RABBITMQ_POOL<n>_SSL_, after the connector.
func stompEnv(name string, i int) string {
	return fmt.Sprintf("MCOLLECTIVE_%s_POOL%d_SSL_", strings.ToUpper(name), i)
}

func readPoolMember(r *reader, p string, i int) STOMPBroker {
	k := fmt.Sprintf("%spool.%d.", p, i)
	env := stompEnv(strings.TrimSuffix(strings.TrimPrefix(p, "plugin."), "."), i)
	b := STOMPBroker{
		Host:     r.str(k+"host", ""),
		Port:     r.port(k+"port", defaultSTOMPPort),
		User:     envOr("STOMP_USER", r.str(k+"user", "")),
		Password: envOr("STOMP_PASSWORD", r.str(k+"password", "")),
		SSL:      r.bool(k+"ssl", false),
		SSLCA:    r.path(k+"ssl.ca", ""),
		SSLCert:  envOr(env+"CERT", r.path(k+"ssl.cert", "")),
		SSLKey:   envOr(env+"KEY", r.path(k+"ssl.key", "")),
	}
	if b.Host == "" {
		r.invalid(k+"host", "required (pool.size is %d)", i)
	}
	if b.Port == 0 {
		r.invalid(k+"port", "must not be 0")
	}
	return b
}

func readSecurity(r *reader, certname string) Security {
	s := Security{
		Provider:              r.enum("plugin.security.provider", defaultSecurityProvider),
		CertnameAllow:         r.regexList("plugin.choria.security.certname_whitelist", defaultCertnameAllow()),
		Privileged:            r.regexList("plugin.choria.security.privileged_users", defaultPrivileged()),
		PrivilegedCallerKinds: r.list("plugin.tutti.security.privileged_caller_kinds", nil),
		AllowLegacyCerts:      r.bool("plugin.security.support_legacy_certificates", false),
		CRLFile:               r.path("plugin.tutti.security.crl", ""),
		CRLWatch:              r.bool("plugin.tutti.security.crl_watch", true),
		CipherSuites:          r.list("plugin.security.cipher_suites", nil),
		ECCCurves:             r.list("plugin.security.ecc_curves", nil),
		MaxTTL:                r.duration("plugin.tutti.max_ttl", defaultMaxTTL),
		ReplayCache:           r.bool("plugin.tutti.replay_cache", true),
		StrictReplyTo:         r.bool("plugin.tutti.strict_reply_to", true),
		RequireSignedReplies:  r.bool("plugin.tutti.require_signed_replies", true),
		ChoriaServers:         r.bool("plugin.tutti.choria_servers", false),
	}
	if s.MaxTTL <= 0 {
		r.invalid("plugin.tutti.max_ttl", "must be positive")
		s.MaxTTL = defaultMaxTTL
	}
	if !s.ReplayCache {
		r.warn("plugin.tutti.replay_cache", "replay protection is off: a captured request can run again within its ttl")
	}
	if s.Provider == "puppet" {
		s.SSLDir = r.path("plugin.choria.ssldir", defaultSSLDir())
		s.CertFile = filepath.Join(s.SSLDir, "certs", certname+".pem")
		s.KeyFile = filepath.Join(s.SSLDir, "private_keys", certname+".pem")
		s.CAFile = filepath.Join(s.SSLDir, "certs", "ca.pem")
		for _, key := range []string{"plugin.security.file.certificate", "plugin.security.file.key", "plugin.security.file.ca"} {
			if r.has(key) {
				r.warn(key, "ignored with plugin.security.provider = puppet (files come from plugin.choria.ssldir)")
			}
		}
		return s
	}
	s.CertFile = r.path("plugin.security.file.certificate", "")
	s.KeyFile = r.path("plugin.security.file.key", "")
	s.CAFile = r.path("plugin.security.file.ca", "")
	return s
}

// regexList reads a comma list of regular expressions and checks that each
// compiles.
func (r *reader) regexList(key string, def []string) []string {
	l := r.list(key, def)
	for _, re := range l {
		if _, err := regexp.Compile(re); err != nil {
			r.fail(key, fmt.Errorf("%w: regex %q: %w", ErrInvalidValue, clip(re), err))
		}
	}
	return l
}

func readLogging(r *reader) Logging {
	l := Logging{File: r.str("logfile", defaultLogFile), Level: r.enum("loglevel", defaultLogLevel)}
	isPath := true
	switch l.File {
	case "stdout", "stderr", "discard":
		isPath = false
	default:
		l.File = r.path("logfile", defaultLogFile)
	}
	def := "text"
	if isPath {
		def = "json"
	}
	l.Format = r.enum("plugin.tutti.log_format", def)
	if r.str("logger_type", "file") == "syslog" {
		r.warn("logger_type", "syslog logging is not supported yet; logging to logfile")
	}
	return l
}
