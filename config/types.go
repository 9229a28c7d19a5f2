package config

import (
	"os"
	"time"
)

// The typed sections. Each package takes only its own section. Defaults
// live in defaults.go (one place). Raw keys stay available through
// File.Get for rpcutil#get_config_item.

// Common is what nodes, clients and brokers share.
type Common struct {
	// Identity is the node's name or the client's sender id
	// (^[\w.\-]+$). Default: the FQDN (hostname).
	Identity string
	// Collectives the node joins or the client may address.
	Collectives []string
	// MainCollective defaults to the first of Collectives.
	MainCollective string
	// Connector is "nats" (default) or "activemq"/"rabbitmq" (STOMP).
	Connector string
	NATS      NATS
	ActiveMQ  ActiveMQ
	Security  Security
	// SSL is MCollective's ssl security plugin: set (Enabled) with
	// securityprovider = ssl, the MCollective 2.12 compatibility mode.
	SSL     SSLPlugin
	Logging Logging
	// MaxMessageSize caps a transport message in bytes
	// (plugin.tutti.max_message_size, default 4 MiB).
	MaxMessageSize int
}

// SSLPlugin is MCollective's ssl security plugin (securityprovider =
// ssl): nodes verify requests with the callers' public keys in
// ClientCertDir and sign replies with ServerPrivate; clients sign with
// ClientPrivate (their caller name is ClientPublic's base name) and
// verify replies with ServerPublic.
type SSLPlugin struct {
	Enabled                     bool
	ServerPrivate, ServerPublic string
	ClientCertDir               string
	ClientPrivate, ClientPublic string
	// Serializer is "marshal" (default) or "yaml".
	Serializer string
}

// NATS is the broker connection (plugin.choria.middleware_hosts…).
type NATS struct {
	// Hosts as given, normalised to nats://host:port (tls:// is also kept).
	Hosts       []string
	User, Pass  string // plugin.nats.user / .pass (env wins)
	Credentials string // plugin.nats.credentials
	UseSRV      bool
	SRVDomain   string
}

// ActiveMQ is the STOMP pool (plugin.activemq.*, or plugin.rabbitmq.*
// with connector = rabbitmq).
type ActiveMQ struct {
	Pool              []STOMPBroker
	HeartbeatInterval time.Duration // 0 = none
	VHost             string        // default "mcollective" (rabbitmq: "/")
	Randomize         bool
	// Reconnect policy.
	InitialReconnectDelay time.Duration // 10ms
	MaxReconnectDelay     time.Duration // 30s
	BackOffMultiplier     float64       // 2
	MaxReconnectAttempts  int           // 0 = forever
	ConnectTimeout        time.Duration // 30s
}

// STOMPBroker is one pool member (plugin.<connector>.pool.<n>.*).
type STOMPBroker struct {
	Host           string
	Port           int // 61613
	User, Password string
	SSL            bool
	SSLCA          string
	SSLCert        string
	SSLKey         string
}

// Security is the x509 security provider and the request rules.
type Security struct {
	Provider string // "file" (default) or "puppet"
	// Files; with the puppet provider they are derived from SSLDir.
	CertFile, KeyFile, CAFile string
	SSLDir                    string
	// CertnameAllow: plugin.choria.security.certname_whitelist
	// (default `\.mcollective$`, `\.choria$`).
	CertnameAllow []string
	// Privileged: plugin.choria.security.privileged_users
	// (default `\.privileged.mcollective$`, `\.privileged.choria$`).
	Privileged []string
	// PrivilegedCallerKinds: plugin.tutti.security.privileged_caller_kinds.
	PrivilegedCallerKinds []string
	// AllowLegacyCerts: plugin.security.support_legacy_certificates.
	AllowLegacyCerts bool
	CRLFile          string // plugin.tutti.security.crl
	CRLWatch         bool   // plugin.tutti.security.crl_watch
	CipherSuites     []string
	ECCCurves        []string
	// MaxTTL: plugin.tutti.max_ttl (default 1h).
	MaxTTL time.Duration
	// ReplayCache: plugin.tutti.replay_cache (default true).
	ReplayCache bool
	// StrictReplyTo: plugin.tutti.strict_reply_to (default true).
	StrictReplyTo bool
	// RequireSignedReplies: plugin.tutti.require_signed_replies (client,
	// default true).
	RequireSignedReplies bool
	// ChoriaServers: plugin.tutti.choria_servers (client, default false):
	// the fleet has Choria servers, which can verify RSA request
	// signatures only, so the client refuses to sign with another key.
	ChoriaServers bool
}

// Logging is logfile / loglevel / plugin.tutti.log_format.
type Logging struct {
	File   string // "stdout" (default), "stderr", "discard" or a path
	Level  string // "info"
	Format string // "text" or "json"; default json when File is a path
}

// Authorization is rpcauthorization and the actionpolicy plugin.
type Authorization struct {
	Enabled           bool   // rpcauthorization, default true
	Provider          string // rpcauthprovider, default "action_policy"
	AllowUnconfigured bool   // plugin.actionpolicy.allow_unconfigured
	EnableDefault     bool   // plugin.actionpolicy.enable_default
	DefaultName       string // plugin.actionpolicy.default_name ("default")
	PolicyDir         string // plugin.tutti.policy_dir (<configdir>/policies)
}

// Audit is rpcaudit and plugin.rpcaudit.*.
type Audit struct {
	Enabled  bool        // rpcaudit
	Provider string      // rpcauditprovider: "choria" (JSON, default) or "logfile"
	LogFile  string      // plugin.rpcaudit.logfile
	Mode     os.FileMode // plugin.rpcaudit.logfile.mode (0600)
	Group    string      // plugin.rpcaudit.logfile.group
	// Required: plugin.tutti.audit.required (default true): refuse an
	// action whose record could not be written (fail closed).
	Required bool
	// Stream: plugin.tutti.audit.stream: also send each record to the
	// broker's audit stream through the spool (NATS connector only).
	Stream bool
	// Subject: plugin.tutti.audit.subject; "" means
	// tutti.audit.node.<certificate name>, the one subject the broker
	// lets the node publish audit records to.
	Subject string
	// SpoolDir: plugin.tutti.audit.spool_dir (<logfile>.spool).
	SpoolDir string
	// SpoolMaxBytes: plugin.tutti.audit.spool_max_bytes (256 MiB).
	SpoolMaxBytes int64
	// SpoolFsync: plugin.tutti.audit.spool_fsync, "interval" (default)
	// or "always"; SpoolFsyncInterval: plugin.tutti.audit.spool_fsync_interval
	// (1 s). See SpoolFsyncDelay.
	SpoolFsync         string
	SpoolFsyncInterval time.Duration
	// StreamLinger: plugin.tutti.audit.stream_linger (0.5 s), how long
	// the node's consecutive records gather into one stream message; 0
	// sends each alone. See SpoolLinger.
	StreamLinger time.Duration
	// StreamDrain: plugin.tutti.audit.stream_drain (2 s), how long a
	// stopping node goes on delivering its spool (audit.SpoolConfig's
	// Drain).
	StreamDrain time.Duration

	// The tamper-evident chain (docs/security.md, "Audit trail").
	Chain              bool          // plugin.tutti.audit.chain
	ChainState         string        // plugin.tutti.audit.chain_state; default LogFile + ".chain"
	CheckpointInterval time.Duration // plugin.tutti.audit.checkpoint_interval; 0: no timed checkpoint
	CheckpointRecords  int           // plugin.tutti.audit.checkpoint_records; 0: none by count
}

// AuditStream is plugin.tutti.broker.audit_stream and its settings.
type AuditStream struct {
	Enabled    bool          // plugin.tutti.broker.audit_stream (true)
	Name       string        // .name (TUTTI_AUDIT)
	Subjects   []string      // .subjects (tutti.audit.>, tutti.aaa.audit.>)
	MaxAge     time.Duration // .max_age (0: keep)
	MaxBytes   int64         // .max_bytes (0: no bound)
	Replicas   int           // .replicas (1)
	Duplicates time.Duration // .duplicates (20m)
	Sources    []string      // .sources (JetStream domains; none)
}

// Facts is plugin.yaml and classesfile.
type Facts struct {
	Files       []string // plugin.yaml, ':'-separated
	ClassesFile string   // classesfile
}

// Server is a node's configuration (server.conf).
type Server struct {
	Common
	Authorization Authorization
	Audit         Audit
	Facts         Facts
	// LibDirs: libdir and plugin.choria.agent_provider.mcorpc.libdir
	// (external agents and DDLs).
	LibDirs []string
	// AgentDirs: plugin.tutti.agents_dir (external agents and DDLs, in
	// addition to <libdir>/mcollective/agent).
	AgentDirs []string
	// Registration.
	Registration           []string      // registration
	RegisterInterval       time.Duration // registerinterval (300s)
	RegistrationSplay      bool          // registration_splay
	RegistrationCollective string        // registration_collective
	// Stats / metrics: plugin.choria.stats_address, .stats_port (0 = off).
	StatsAddress string
	StatsPort    int
	// StatusFile: plugin.choria.status_file_path; StatusInterval its period.
	StatusFile          string
	StatusInterval      time.Duration
	SoftShutdownTimeout time.Duration // soft_shutdown_timeout (2s)
	// Workers (plugin.tutti.workers, 0: 4 per CPU) bounds the requests
	// run at once, QueueSize (plugin.tutti.queue_size, 1024) those waiting.
	Workers, QueueSize int
	// AgentConcurrency: the concurrency cap of each agent named in a
	// concurrency key such as plugin.tutti.agent.service.concurrency
	// (the node holds the defaults of the others).
	AgentConcurrency map[string]int
	// RateLimit (plugin.tutti.rate_limit, 0: off) and RateBurst
	// (plugin.tutti.rate_burst, 0: twice the rate) bound each verified
	// caller's requests.
	RateLimit float64
	RateBurst int
	// Filter bounds the filters of requests: plugin.tutti.filter.*.
	Filter FilterLimits
	// Guard is the blast-radius guard: plugin.choria.require_client_filter
	// and plugin.tutti.guard.*.
	Guard Guard
}

// FilterLimits are plugin.tutti.filter.*: a request whose filter is over
// one of them is refused before any of the filter is compiled.
type FilterLimits struct {
	MaxEntries          int // max_entries (100000)
	MaxRegexes          int // max_regexes (256)
	MaxRegexLength      int // max_regex_length (1024 bytes)
	MaxExpressions      int // max_expressions (64)
	MaxExpressionLength int // max_expression_length (4096 bytes)
	MaxExpressionDepth  int // max_expression_depth (32)
}

// Client is the CLI's configuration (client.conf, ~/.choriarc).
type Client struct {
	Common
	TTL              time.Duration // ttl (60s)
	DiscoveryTimeout time.Duration // discovery_timeout (2s)
	// DirectAddressing / Threshold: direct_addressing(_threshold).
	DirectAddressing          bool
	DirectAddressingThreshold int
	RPCLimitMethod            string // rpclimitmethod: first|random
	RequireClientFilter       bool   // plugin.choria.require_client_filter
	// CallerKind is the callerid prefix the client uses with its own
	// certificate: "choria" (default) or "cert" (plugin.tutti.callerid_kind).
	CallerKind    string
	RequestSigner RequestSigner
	// LoginURLs: plugin.login.aaasvc.login.url.
	LoginURLs []string
	LibDirs   []string
	// AgentDirs: plugin.tutti.agents_dir (DDLs for plugin doc and input checks).
	AgentDirs []string
	// AuditStream: plugin.tutti.audit.stream_name (TUTTI_AUDIT), the
	// stream tutti audit show and tail read.
	AuditStream string
	// AnonTLS: plugin.security.client_anon_tls (only with a remote signer).
	AnonTLS bool
	// DiscoveryMethod: default_discovery_method ("mc");
	// DiscoveryOptions: default_discovery_options.
	DiscoveryMethod  string
	DiscoveryOptions []string
	// WindowedDiscovery: plugin.choria.discovery.broadcast.windowed_timeout.
	WindowedDiscovery bool
}

// RequestSigner is the remote signer settings (docs/config-reference.md §11).
type RequestSigner struct {
	URL      string // plugin.choria.security.request_signer.url
	TokenEnv string // …request_signer.token_environment
	// TokenFile: …request_signer.token_file (also the seed's
	// choria.security.request_signer.token_file alias).
	TokenFile string
	Force     bool   // …request_signer.force
	SeedFile  string // …request_signer.seed_file
	Service   bool   // …request_signer.service
	CA        string // plugin.tutti.request_signer.ca
	Insecure  bool   // plugin.tutti.request_signer.insecure
}

// Broker is the embedded NATS broker (broker.conf; plugin.choria.network.*).
type Broker struct {
	Common
	ListenAddress string   // plugin.choria.network.listen_address ("::")
	ClientPort    int      // plugin.choria.network.client_port (4222)
	PeerPort      int      // plugin.choria.network.peer_port (0 = no cluster)
	Peers         []string // plugin.choria.network.peers (nats://host:port)
	MonitorPort   int      // plugin.choria.network.monitor_port / stats_port
	// MetricsPort: plugin.tutti.metrics_port, Prometheus (0 = off);
	// MetricsAddress: plugin.choria.stats_address (127.0.0.1).
	MetricsPort    int
	MetricsAddress string
	// JetStream: plugin.choria.network.stream.store (dir; empty = off).
	StreamStore string
	// AuditStream: plugin.tutti.broker.audit_stream*, the audit stream
	// the broker creates when JetStream is on.
	AuditStream AuditStream
	// Authorization is who may publish and subscribe where; with
	// Common.Security.Privileged and CertnameAllow (the privileged and
	// client certificate patterns).
	Authorization BrokerAuthorization
	// Links are leafnodes and gateways to other data centres.
	Links BrokerLinks
}

// BrokerAuthorization is the embedded broker's per-certificate
// permissions (plugin.tutti.broker.*; docs/security.md).
type BrokerAuthorization struct {
	// ClientSignerCerts: plugin.choria.network.client_signer_cert, the
	// keys login tokens are verified with (empty: tokens ignored).
	ClientSignerCerts []string
	// CollectiveClients: plugin.tutti.broker.collective.dev.clients and
	// the like, one key per collective.
	CollectiveClients map[string][]string
	// NodeCertificates: plugin.tutti.broker.node_certificates (nil:
	// every other certificate is a node).
	NodeCertificates []string
	// SharedNodeCertificates: plugin.tutti.broker.shared_node_certificates.
	SharedNodeCertificates []string
	// AdminCertificates: plugin.tutti.broker.admin_certificates.
	AdminCertificates []string
	// AuditSubjects: plugin.tutti.broker.audit_subjects.
	AuditSubjects []string
	// AuditReaders: plugin.tutti.broker.audit_readers, certificates that
	// may read the audit stream.
	AuditReaders []string
	// AuditStream: plugin.tutti.audit.stream_name, the stream they read.
	AuditStream string
}
