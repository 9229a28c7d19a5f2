package config

import (
	"fmt"
	"strconv"
	"strings"
)

// k builds a supported key of a section.
func k(key string, kind Kind, def, desc string) KeyInfo {
	return KeyInfo{Key: key, Kind: kind, Default: def, Description: desc}
}

// enum builds a KindEnum key.
func enum(key, def, desc string, values ...string) KeyInfo {
	return KeyInfo{Key: key, Kind: KindEnum, Enum: values, Default: def, Description: desc}
}

func (ki KeyInfo) with(s Status) KeyInfo { ki.Status = s; return ki }

func section(name string, keys ...KeyInfo) []KeyInfo {
	for i := range keys {
		keys[i].Section = name
	}
	return keys
}

func secs(d interface{ Seconds() float64 }) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

func buildKeys() []KeyInfo {
	var all []KeyInfo
	for _, s := range [][]KeyInfo{
		identityKeys(), natsKeys(), stompKeys("activemq"), stompKeys("rabbitmq"),
		securityKeys(), mcoSSLKeys(), tuttiSecurityKeys(), authKeys(), auditKeys(),
		signerKeys(), factKeys(), registrationKeys(), loggingKeys(), requestKeys(),
		brokerKeys(), linkKeys(), federationKeys(), legacyKeys(),
		opsAgentKeys(), // nettest, puppet, shell
	} {
		all = append(all, s...)
	}
	return all
}

func identityKeys() []KeyInfo {
	return section("identity",
		k("identity", KindString, "host name", `node name or client sender id, ^[\w.\-]+$`),
		k("collectives", KindList, defaultCollective, "collectives the node joins or the client may address"),
		k("main_collective", KindString, "first of collectives", "collective used when none is given"),
		enum("connector", defaultConnector, "middleware connector", "nats", "activemq", "rabbitmq"),
	)
}

func natsKeys() []KeyInfo {
	return section("nats",
		k("plugin.choria.middleware_hosts", KindList, "SRV, then puppet:4222", "NATS brokers, host:port, nats://host:port or tls://host:port"),
		k("plugin.choria.use_srv", KindBool, "true", "look up SRV records when no hosts are set"),
		k("plugin.choria.srv_domain", KindString, "domain of the FQDN", "domain for SRV lookups (env CHORIA_SRV_DOMAIN wins)"),
		k("plugin.choria.randomize_middleware_hosts", KindBool, "false", "shuffle the broker list"),
		k("plugin.nats.user", KindString, "", "NATS user (env MCOLLECTIVE_NATS_USERNAME wins)"),
		k("plugin.nats.pass", KindString, "", "NATS password (env MCOLLECTIVE_NATS_PASSWORD wins)"),
		k("plugin.nats.credentials", KindPath, "", "NATS 2 credentials file (env MCOLLECTIVE_NATS_CREDENTIALS wins)"),
	)
}

// stompKeys are the STOMP connector keys; rabbitmq has the same shape
// plus use_reply_exchange.
func stompKeys(name string) []KeyInfo {
	p := "plugin." + name + "."
	pool := p + "pool.<n>."
	env := "MCOLLECTIVE_" + strings.ToUpper(name) + "_POOL<n>_SSL_"
	keys := section("stomp",
		k(p+"pool.size", KindInt, "required", "number of brokers in the pool"),
		k(pool+"host", KindString, "", "broker <n> host (1-based)"),
		k(pool+"port", KindPort, strconv.Itoa(defaultSTOMPPort), "broker <n> port"),
		k(pool+"user", KindString, "", "STOMP login (env STOMP_USER wins)"),
		k(pool+"password", KindString, "", "STOMP password (env STOMP_PASSWORD wins)"),
		k(pool+"ssl", KindBool, "0", "TLS to broker <n>"),
		k(pool+"ssl.ca", KindPath, "", "CA bundle for broker <n>"),
		k(pool+"ssl.cert", KindPath, "", "client certificate (env "+env+"CERT wins)"),
		k(pool+"ssl.key", KindPath, "", "client key (env "+env+"KEY wins)"),
		k(pool+"ssl.fallback", KindBool, "0", "unverified TLS when files are missing; tutti never falls back").with(Ignored),
		k(pool+"ssl.ciphers", KindString, "", "OpenSSL cipher list").with(Ignored),
		k(p+"heartbeat_interval", KindDuration, "0", "STOMP 1.1 heart-beats, seconds (>= 30 when set)"),
		k(p+"vhost", KindString, stompVHost(name), "host header of CONNECT (RabbitMQ: the virtual host)"),
		k(p+"stomp_1_0_fallback", KindBool, "1", "allow STOMP 1.0 when 1.1 fails"),
		k(p+"agents_multiplex", KindBool, "0", "one topic for all agents"),
		k(p+"base64", KindBool, "0", "base64 the frame body"),
		k(p+"priority", KindInt, "0", "STOMP priority header; 0 = not sent"),
		k(p+"randomize", KindBool, "0", "shuffle the pool"),
		k(p+"backup", KindBool, "0", "keep a backup connection").with(Ignored),
		k(p+"initial_reconnect_delay", KindDuration, secs(defaultInitialReconnect), "first reconnect delay, seconds"),
		k(p+"max_reconnect_delay", KindDuration, secs(defaultMaxReconnect), "largest reconnect delay, seconds"),
		k(p+"use_exponential_back_off", KindBool, "1", "grow the reconnect delay"),
		k(p+"back_off_multiplier", KindFloat, fmt.Sprint(defaultBackOff), "reconnect delay growth factor"),
		k(p+"max_reconnect_attempts", KindInt, "0", "give up after this many attempts; 0 = forever"),
		k(p+"connect_timeout", KindDuration, secs(defaultConnectTimeout), "connection timeout, seconds"),
		k(p+"timeout", KindInt, "-1", "STOMP read timeout").with(Ignored),
		k(p+"max_hbread_fails", KindInt, "2", "heart-beat read failures tolerated").with(Ignored),
		k(p+"max_hbrlck_fails", KindInt, "0", "heart-beat lock failures tolerated").with(Ignored),
	)
	if name == "rabbitmq" {
		keys = append(keys, section("stomp", k(p+"use_reply_exchange", KindBool, "1",
			"replies through the <collective>_reply exchange; tutti always does (its reply-to is signed, RabbitMQ's temp-queue rewriting cannot apply)").with(Ignored))...)
	}
	return keys
}

func securityKeys() []KeyInfo {
	return section("security",
		enum("plugin.security.provider", defaultSecurityProvider, "certificate source; pkcs11, certmanager and choria are refused", "file", "puppet"),
		k("plugin.security.file.certificate", KindPath, "", "PEM certificate of this node or client"),
		k("plugin.security.file.key", KindPath, "", "PEM private key"),
		k("plugin.security.file.ca", KindPath, "", "PEM CA bundle"),
		k("plugin.security.file.cache", KindPath, "", "Choria's certificate cache directory").with(Ignored),
		k("plugin.choria.ssldir", KindPath, defaultRootSSLDir+" (root), "+defaultUserSSLDir, "puppet provider directory"),
		k("plugin.choria.security.certname_whitelist", KindList, strings.Join(defaultCertnameAllow(), ","), "regexes of certificate names allowed as clients"),
		k("plugin.choria.security.privileged_users", KindList, strings.Join(defaultPrivileged(), ","), "regexes of certificates that may assert any callerid"),
		k("plugin.security.support_legacy_certificates", KindBool, "false", "accept certificates without SANs"),
		k("plugin.security.cipher_suites", KindList, "Go defaults", "TLS cipher suites (Go names)"),
		k("plugin.security.ecc_curves", KindList, "Go defaults", "TLS curves (Go names)"),
		k("plugin.security.client_anon_tls", KindBool, "false", "client: unverified TLS to the broker, only with a remote signer"),
		k("plugin.security.server_anon_tls", KindBool, "false", "servers: unverified TLS; refused in v1"),
		k("plugin.security.always_overwrite_cache", KindBool, "", "historic certificate-cache switch").with(Ignored),
		k("plugin.choria.security.serializer", KindString, "", "Choria v2 serializer").with(Ignored),
		k("securityprovider", KindString, "", "ssl: node or client in MCollective 2.12 mode (MCollective's ssl plugin); unset: Choria's security"),
	)
}

func mcoSSLKeys() []KeyInfo {
	return section("mcollective ssl",
		k("plugin.ssl_server_private", KindPath, "", "fleet-wide server private key"),
		k("plugin.ssl_server_public", KindPath, "", "fleet-wide server public key (clients verify replies; nodes do not need it)"),
		k("plugin.ssl_client_cert_dir", KindPath, "", "node: directory of <name>.pem client public keys"),
		k("plugin.ssl_client_private", KindPath, "", "client: private key requests are signed with (env MCOLLECTIVE_SSL_PRIVATE wins)"),
		k("plugin.ssl_client_public", KindPath, "", "client: public key of ssl_client_private; its file name without .pem is the caller (cert=<name>) (env MCOLLECTIVE_SSL_PUBLIC wins)"),
		enum("plugin.ssl_serializer", "marshal", "serializer, must match on both ends", "marshal", "yaml"),
		k("plugin.ssl.enforce_ttl", KindBool, "1", "tutti always enforces the TTL").with(Ignored),
		k("plugin.psk", KindString, "", "MCollective psk security plugin secret").with(Unsupported),
	)
}

func tuttiSecurityKeys() []KeyInfo {
	return section("tutti security",
		k("plugin.tutti.max_ttl", KindDuration, secs(defaultMaxTTL), "largest request ttl a node accepts, seconds"),
		k("plugin.tutti.replay_cache", KindBool, "true", "keep the request replay cache"),
		k("plugin.tutti.strict_reply_to", KindBool, "true", "reply only to <collective>.reply.<md5 or sha256 of the signed callerid>.… subjects; 0 replies wherever a request says"),
		k("plugin.tutti.require_signed_replies", KindBool, "true", "client: refuse replies without a node signature (false accepts Choria servers' unsigned replies, marked)"),
		k("plugin.tutti.choria_servers", KindBool, "false", "the fleet has Choria servers: the client signs requests with RSA keys only"),
		k("plugin.tutti.security.crl", KindPath, "", "PEM CRL checked for callers and intermediates"),
		k("plugin.tutti.security.crl_watch", KindBool, "true", "node and broker: watch the broker's TUTTI_CRL bucket and apply a newer CRL signed by the CA at once, without a reload (NATS only)"),
		k("plugin.tutti.security.privileged_caller_kinds", KindList, "any", "callerid kinds a privileged certificate may assert"),
		k("plugin.tutti.max_message_size", KindInt, strconv.Itoa(defaultMaxMessageSize), "largest transport message, bytes"),
		k("plugin.tutti.workers", KindInt, "0", "node: most requests run at once; 0 is 4 per CPU"),
		k("plugin.tutti.queue_size", KindInt, strconv.Itoa(defaultQueueSize), "node: most requests waiting for a worker, all callers together; a full queue refuses the flooding caller's newest (answered \"node busy\" once verified)"),
		k("plugin.tutti.agent.<agent>.concurrency", KindInt, "external agents: half the workers; built-in: 0", "node: most requests <agent> runs at once, more are refused \"node busy\" (status 1); 0 is no cap beyond the workers"),
		k("plugin.tutti.rate_limit", KindFloat, "0", "node: requests per second each verified caller may send, more are refused \"rate limited\" (status 1); 0 is no limit"),
		k("plugin.tutti.rate_burst", KindInt, "0", "node: requests a caller may send at once above plugin.tutti.rate_limit; 0 is twice the rate"),
		k("plugin.tutti.filter.max_entries", KindInt, strconv.Itoa(defaultFilterMaxEntries), "node: most entries of a request's filter, all selectors together"),
		k("plugin.tutti.filter.max_regexes", KindInt, strconv.Itoa(defaultFilterMaxRegexes), "node: most regular expressions in a request's filter, compound expressions' included"),
		k("plugin.tutti.filter.max_regex_length", KindInt, strconv.Itoa(defaultFilterMaxRegexLength), "node: longest regular expression of a filter, bytes"),
		k("plugin.tutti.filter.max_expressions", KindInt, strconv.Itoa(defaultFilterMaxExpressions), "node: most compound expressions in a request's filter"),
		k("plugin.tutti.filter.max_expression_length", KindInt, strconv.Itoa(defaultFilterMaxExpressionLength), "node: longest compound expression, bytes"),
		k("plugin.tutti.filter.max_expression_depth", KindInt, strconv.Itoa(defaultFilterMaxExpressionDepth), "node: deepest nesting of a compound expression"),
		enum("plugin.tutti.callerid_kind", defaultCallerKind, "callerid prefix used with the client's own certificate", "choria", "cert"),
		k("plugin.tutti.metrics_port", KindPort, "0", "Prometheus port (node: wins over plugin.choria.stats_port; broker: its own metrics); 0 = off"),
	)
}

func authKeys() []KeyInfo {
	return section("authorization",
		k("rpcauthorization", KindBool, "1", "authorize every RPC request"),
		k("rpcauthprovider", KindString, defaultAuthProvider, "authorization provider (action_policy only)"),
		k("plugin.actionpolicy.allow_unconfigured", KindBool, "n", "allow agents without a policy file"),
		k("plugin.actionpolicy.enable_default", KindBool, "n", "use the default policy for agents without a file"),
		k("plugin.actionpolicy.default_name", KindString, defaultPolicyName, "name of the default policy"),
		k("plugin.tutti.policy_dir", KindPath, "<configdir>/"+defaultPolicySubdir, "policy directory"),
		k("plugin.choria.require_client_filter", KindBool, "false", "node: refuse a request whose signed filter selects by nothing but its agent; client: refuse to send one"),
		k("plugin.tutti.guard", KindList, "", "node: guarded actions, AGENT#ACTION or AGENT#*, each optionally :N (its own max_targets); a wider request is refused"),
		k("plugin.tutti.guard.max_targets", KindInt, strconv.Itoa(defaultGuardMaxTargets), "node: most nodes a request to a guarded action may name in its identity filter"),
		k("plugin.tutti.guard.selectors", KindBool, "true", "node: a fact, class or compound filter also lets a guarded action run"),
	)
}

func auditKeys() []KeyInfo {
	return section("audit",
		k("rpcaudit", KindBool, "0", "write an audit record per RPC request"),
		enum("rpcauditprovider", defaultAuditProvider, "audit format: choria (JSON) or logfile (MCollective text)", "choria", "logfile"),
		k("plugin.rpcaudit.logfile", KindPath, "", "audit file, required when rpcaudit = 1"),
		k("plugin.rpcaudit.logfile.mode", KindMode, fmt.Sprintf("%04o", defaultAuditMode), "file mode on creation"),
		k("plugin.rpcaudit.logfile.group", KindString, "", "group to chown the audit file to"),
		k("plugin.tutti.audit.required", KindBool, "true", "refuse an action whose audit record cannot be written (fail closed); false runs it anyway"),
		k("plugin.tutti.audit.stream", KindBool, "false", "also send each record to the broker's audit stream, through a durable local spool (NATS only)"),
		k("plugin.tutti.audit.subject", KindString, "tutti.audit.node.<certificate name>", "subject the node publishes its records to"),
		k("plugin.tutti.audit.spool_dir", KindPath, "<audit file>.spool", "directory of the audit spool; default: plugin.rpcaudit.logfile plus .spool"),
		k("plugin.tutti.audit.spool_max_bytes", KindInt, strconv.Itoa(defaultAuditSpoolMaxBytes), "undelivered bytes the spool holds before the node refuses actions"),
		enum("plugin.tutti.audit.spool_fsync", defaultAuditSpoolFsync, "when the spool fsyncs: always (each record before the action runs) or interval (written before, fsynced within spool_fsync_interval unless delivered)", "interval", "always"),
		k("plugin.tutti.audit.spool_fsync_interval", KindDuration, secs(defaultAuditSpoolFsyncInterval), "with spool_fsync = interval: longest time an undelivered record waits for its fsync, seconds"),
		k("plugin.tutti.audit.stream_drain", KindDuration, secs(defaultAuditStreamDrain), "how long a stopping node goes on delivering its spooled records to the audit stream (the open message at once) before it exits, seconds; 0 leaves them to the next start"),
		k("plugin.tutti.audit.stream_linger", KindDuration, secs(defaultAuditStreamLinger), "how long a node's consecutive records gather into one audit stream message (one record a line) before it is sent, seconds; 0 sends each record alone"),
		k("plugin.tutti.audit.chain", KindBool, "true", "chain audit records (writer, seq, prev) and sign checkpoints"),
		k("plugin.tutti.audit.chain_state", KindPath, "", "chain head kept across restarts and rotation; default <logfile>.chain"),
		k("plugin.tutti.audit.checkpoint_interval", KindDuration, secs(defaultCheckpointInterval), "seconds between signed audit checkpoints; 0 = none by time"),
		k("plugin.tutti.audit.checkpoint_records", KindInt, fmt.Sprint(defaultCheckpointRecords), "a signed audit checkpoint every N records; 0 = none by count"),
		k("plugin.tutti.audit.stream_name", KindString, defaultAuditStreamName, "JetStream stream of the audit records, read by tutti audit show and tail"),
	)
}

func signerKeys() []KeyInfo {
	p := "plugin.choria.security.request_signer."
	return section("request signer",
		k(p+"url", KindString, "", "remote signer endpoint (…/choria/v1/sign)"),
		k(p+"token_environment", KindString, "", "environment variable holding the JWT"),
		k(p+"token_file", KindPath, "", "file holding the JWT (alias: choria.security.request_signer.token_file)"),
		k(p+"force", KindBool, "false", "refuse to sign with a local certificate"),
		k(p+"seed_file", KindPath, "<token_file minus extension>.key", "hex ed25519 seed proving possession"),
		k(p+"service", KindBool, "false", "sign through the aaa_signer RPC service; wins over url"),
		k("plugin.login.aaasvc.login.url", KindList, "", "login URLs for tutti login"),
		k("plugin.choria.security.request_signing_certificate", KindString, "", "historic").with(Ignored),
		k("plugin.tutti.request_signer.ca", KindPath, "system roots", "CA bundle for the signer and login TLS"),
		k("plugin.tutti.request_signer.insecure", KindBool, "false", "skip TLS verification to the signer"),
	)
}

func factKeys() []KeyInfo {
	return section("facts",
		k("factsource", KindString, "yaml", "MCollective facts plugin (yaml only)"),
		k("plugin.yaml", KindPathList, "", "fact files, ':'-separated, later files win"),
		k("fact_cache_time", KindInt, "300", "facts reload when a file changes").with(Ignored),
		k("classesfile", KindPath, defaultClassesFile, "one class per line"),
	)
}

func registrationKeys() []KeyInfo {
	p := "plugin.choria.registration.file_content."
	return section("registration",
		k("registration", KindList, "", "registration plugins; empty disables"),
		k("registerinterval", KindDuration, secs(defaultRegisterInterval), "seconds between registration messages; 0 disables"),
		k("registration_splay", KindBool, "true", "random delay before the first message"),
		k("registration_collective", KindString, "main_collective", "collective for registration messages"),
		k(p+"data", KindPath, "", "file to publish").with(Unsupported),
		k(p+"target", KindString, "", "subject to publish to").with(Unsupported),
		k(p+"compression", KindBool, "true", "gzip the data").with(Unsupported),
	)
}

func loggingKeys() []KeyInfo {
	return section("logging",
		k("logfile", KindPath, defaultLogFile, "stdout, stderr, discard or a file"),
		enum("loglevel", defaultLogLevel, "lowest level logged", "debug", "info", "warn", "error", "fatal"),
		enum("plugin.tutti.log_format", "json for files, else text", "log line format", "text", "json"),
		enum("logger_type", "file", "MCollective logger (syslog not yet)", "file", "console", "syslog"),
		k("logfacility", KindString, "user", "syslog facility"),
		k("keeplogs", KindInt, "5", "MCollective rotation; use logrotate").with(Ignored),
		k("max_log_size", KindInt, "2097152", "MCollective rotation; use logrotate").with(Ignored),
	)
}

func requestKeys() []KeyInfo {
	return section("requests",
		k("ttl", KindDuration, secs(defaultTTL), "client: request validity, seconds"),
		k("discovery_timeout", KindDuration, secs(defaultDiscoveryTimeout), "client: seconds to wait for discovery replies"),
		k("plugin.choria.discovery.broadcast.windowed_timeout", KindBool, "false", "stop discovery 300ms after the last reply"),
		k("default_discovery_method", KindString, "mc", "discovery method"),
		k("default_discovery_options", KindList, "", "options for the discovery method"),
		k("direct_addressing", KindBool, "1", "directed requests for few nodes"),
		k("direct_addressing_threshold", KindInt, strconv.Itoa(defaultDirectThreshold), "largest node count sent directed"),
		enum("rpclimitmethod", defaultRPCLimitMethod, "how to pick a limited subset", "first", "random"),
		k("libdir", KindPathList, "", "external agents and DDLs, ':'-separated"),
		k("plugin.choria.agent_provider.mcorpc.libdir", KindPathList, "", "same as libdir"),
		k("plugin.tutti.agents_dir", KindPathList, "", "external agents (<name>.json + executable <name>) and DDLs, ':'-separated; <libdir>/mcollective/agent is searched too"),
		k("plugin.tutti.service.systemctl", KindString, "/usr/bin/systemctl", "service agent: absolute path of systemctl"),
		// package, process and filemgr agents
		enum("plugin.tutti.package.provider", "auto", "package agent: package manager (auto: apt when apt-get is found, else dnf)", "auto", "apt", "dnf"),
		k("plugin.tutti.package.bindir", KindString, "/usr/bin", "package agent: absolute directory of apt-get, apt-cache, dpkg-query, dnf and rpm"),
		k("plugin.filemgr.touch_file", KindString, "/var/run/tutti.filemgr.touch", "filemgr agent: the file acted on without a file input"),
		k("plugin.choria.status_file_path", KindPath, "", "JSON health file"),
		k("plugin.choria.status_update_interval", KindDuration, secs(defaultStatusInterval), "health file refresh, seconds"),
		k("plugin.choria.stats_address", KindString, defaultStatsAddress, "stats listener address"),
		k("plugin.choria.stats_port", KindPort, "0", "stats listener port; 0 disables"),
		k("soft_shutdown_timeout", KindDuration, secs(defaultSoftShutdown), "seconds running actions get on shutdown"),
		k("soft_shutdown", KindBool, "1", "MCollective switch for soft_shutdown_timeout; always on"),
		k("color", KindBool, "1", "CLI colours"),
		k("publish_timeout", KindInt, "2", "Ruby client publish timeout").with(Ignored),
		k("connection_timeout", KindInt, "", "Ruby client connect timeout").with(Ignored),
		k("threaded", KindBool, "0", "MCollective threading").with(Ignored),
		k("activate_agents", KindBool, "1", "MCollective agent activation").with(Ignored),
		k("daemonize", KindBool, "0", "systemd runs tuttid in the foreground").with(Ignored),
		k("rpchelptemplate", KindPath, "", "MCollective help template").with(Ignored),
		k("helptemplatedir", KindPath, "", "MCollective help templates").with(Ignored),
		k("ssl_cipher", KindString, "", "MCollective cipher for aes_security").with(Ignored),
	)
}

func brokerKeys() []KeyInfo {
	p := "plugin.choria.network."
	b := "plugin.tutti.broker."
	used := func(ki KeyInfo) KeyInfo { return ki.with(BrokerOnly) }
	na := func(key string, kind Kind, desc string) KeyInfo {
		return k(p+key, kind, "", desc+"; not implemented by tutti's broker").with(Unsupported)
	}
	return section("broker",
		k("plugin.choria.broker_network", KindBool, "false", "enable the embedded broker").with(BrokerOnly),
		used(k(p+"listen_address", KindString, defaultBrokerListen, "broker listen address")),
		used(k(p+"client_port", KindPort, strconv.Itoa(defaultBrokerClientPort), "client port")),
		used(k(p+"peer_port", KindPort, "0", "cluster port; 0 = no cluster")),
		used(k(p+"peers", KindList, "", "cluster peers, nats://host:port")),
		used(k(p+"monitor_port", KindPort, "0", "monitoring port (else plugin.choria.stats_port)")),
		used(k(p+"stream.store", KindPath, "", "JetStream directory; empty = off")),
		used(k(p+"client_signer_cert", KindList, "", "login token (JWT) verification keys: PEM certificates or public keys, or ed25519 hex; a client presenting a valid token may read that caller's replies")),
		used(k(b+"collective.<collective>.clients", KindList, "every client", "regexes of client and privileged certificates that may publish requests into <collective>")),
		used(k(b+"node_certificates", KindList, "every other certificate", "regexes of node certificates; when set, a certificate matching no role is refused")),
		used(k(b+"shared_node_certificates", KindList, "", "regexes of node certificates that may subscribe to every node's directed subject (tuttid emulate --shared-conn)")),
		used(k(b+"admin_certificates", KindList, "", "regexes of certificates allowed everything, JetStream management and $SYS included")),
		used(k(b+"audit_readers", KindList, "", "regexes of certificates that may read the audit stream (tutti audit show and tail), nothing more")),
		used(k(b+"audit_subjects", KindList, "tutti.aaa.audit.>", "subjects privileged certificates may publish audit records to")),
		used(k(b+"audit_stream", KindBool, "true", "create or update the audit stream at start when JetStream is on")),
		used(k(b+"audit_stream.name", KindString, defaultAuditStreamName, "audit stream name")),
		used(k(b+"audit_stream.subjects", KindList, defaultAuditStreamSubjects, "subjects the audit stream captures (nodes' and signer's records)")),
		used(k(b+"audit_stream.max_age", KindDuration, "0", "drop records older than this; 0 keeps them")),
		used(k(b+"audit_stream.max_bytes", KindInt, "0", "stream size bound; when reached new records are refused and wait in the spools; 0 = none")),
		used(k(b+"audit_stream.replicas", KindInt, "1", "stream replicas in a cluster (1 to 5)")),
		used(k(b+"audit_stream.duplicates", KindDuration, "20m", "de-duplication window (Nats-Msg-Id): a record sent again within it is stored once")),
		na("peer_user", KindString, "cluster user"),
		na("peer_password", KindString, "cluster password"),
		na("websocket_port", KindPort, "websocket port"),
		na("websocket_advertise", KindString, "websocket URL"),
		na("client_hosts", KindList, "allowed client networks"),
		na("client_anon_tls", KindBool, "unverified client TLS"),
		na("client_tls_force_required", KindBool, "force client TLS"),
		na("deny_server_connections", KindBool, "deny server connections"),
		na("tls_timeout", KindInt, "TLS handshake timeout"),
		na("write_deadline", KindDuration, "write deadline"),
		na("pprof_port", KindPort, "pprof port"),
		na("public_url", KindString, "advertised URL"),
		na("system.user", KindString, "system account user"),
		na("system.password", KindString, "system account password"),
		na("provisioning.client_password", KindString, "provisioning password"),
		na("provisioning.signer_cert", KindPath, "provisioning signer"),
		na("stream.event_retention", KindDuration, "event stream retention"),
		na("stream.machine_retention", KindDuration, "machine stream retention"),
		na("stream.advisory_retention", KindDuration, "advisory stream retention"),
		na("stream.event_replicas", KindInt, "event stream replicas"),
		na("stream.machine_replicas", KindInt, "machine stream replicas"),
		na("stream.advisory_replicas", KindInt, "advisory stream replicas"),
	)
}

func federationKeys() []KeyInfo {
	un := func(key string, kind Kind, desc string) KeyInfo {
		return k(key, kind, "", desc+"; federation is not supported").with(Unsupported)
	}
	return section("federation",
		un("plugin.choria.federation.collectives", KindList, "remote collectives reached through federation"),
		un("plugin.choria.federation_middleware_hosts", KindList, "federation brokers"),
		un("plugin.choria.federation.cluster", KindString, "federation cluster name"),
		un("plugin.choria.broker_federation", KindBool, "enable the federation broker"),
		un("plugin.choria.broker_adapters", KindList, "broker adapters"),
		un("plugin.choria.adapters", KindList, "data adapters"),
	)
}

func legacyKeys() []KeyInfo {
	return section("legacy",
		k("plugin.choria.broker_discovery", KindBool, "false", "historic").with(Ignored),
		k("plugin.choria.legacy_lifecycle_format", KindBool, "false", "lifecycle events").with(Unsupported),
		k("plugin.choria.machine.store", KindPath, "", "autonomous agents").with(Unsupported),
		k("plugin.choria.agent_provider.mcorpc.agent_shim", KindPath, "", "Ruby agent shim").with(Unsupported),
		k("plugin.choria.agent_provider.mcorpc.config", KindPath, "", "Ruby agent config").with(Unsupported),
		k("plugin.choria.puppetserver_host", KindString, "", "provisioning").with(Ignored),
		k("plugin.choria.puppetserver_port", KindPort, "", "provisioning").with(Ignored),
		k("plugin.choria.puppetca_host", KindString, "", "provisioning").with(Ignored),
		k("plugin.choria.puppetca_port", KindPort, "", "provisioning").with(Ignored),
		k("plugin.choria.puppetdb_host", KindString, "", "PuppetDB discovery").with(Unsupported),
		k("plugin.choria.puppetdb_port", KindPort, "", "PuppetDB discovery").with(Unsupported),
		k("plugin.choria.server.provision", KindBool, "false", "provisioning mode").with(Unsupported),
	)
}
