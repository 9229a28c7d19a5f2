package config

import (
	"fmt"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// ServerFrom builds a node's typed configuration from f. Every invalid
// value is reported (errors.Join of *Error); role-specific warnings are
// added to f.Warnings().
func ServerFrom(f *File) (*Server, error) {
	r := &reader{f: f}
	s := &Server{Common: readCommon(r, func(id string) string { return id })}
	s.Authorization = readAuthorization(r)
	s.Audit = readAudit(r)
	s.Facts = Facts{Files: r.paths("plugin.yaml"), ClassesFile: r.path("classesfile", defaultClassesFile)}
	if fs := r.str("factsource", "yaml"); fs != "yaml" {
		r.warn("factsource", fmt.Sprintf("%q is not supported; facts come from plugin.yaml", fs))
	}
	s.LibDirs = libDirs(r)
	s.AgentDirs = r.paths("plugin.tutti.agents_dir")
	s.Registration = r.list("registration", nil)
	s.RegisterInterval = r.duration("registerinterval", defaultRegisterInterval)
	s.RegistrationSplay = r.bool("registration_splay", true)
	s.RegistrationCollective = r.str("registration_collective", s.MainCollective)
	if !slices.Contains(s.Collectives, s.RegistrationCollective) {
		r.invalid("registration_collective", "%q is not one of collectives", clip(s.RegistrationCollective))
	}
	s.StatsAddress = r.str("plugin.choria.stats_address", defaultStatsAddress)
	s.StatsPort = r.port("plugin.tutti.metrics_port", r.port("plugin.choria.stats_port", 0))
	s.StatusFile = r.path("plugin.choria.status_file_path", "")
	s.StatusInterval = r.duration("plugin.choria.status_update_interval", defaultStatusInterval)
	if s.StatusInterval <= 0 {
		r.invalid("plugin.choria.status_update_interval", "must be positive")
	}
	s.SoftShutdownTimeout = r.duration("soft_shutdown_timeout", defaultSoftShutdown)
	s.Filter = readFilterLimits(r)
	s.Guard = readGuard(r)
	if s.Workers = r.int("plugin.tutti.workers", 0); s.Workers < 0 {
		r.invalid("plugin.tutti.workers", "must not be negative (0 is 4 per CPU)")
	}
	if s.QueueSize = r.int("plugin.tutti.queue_size", defaultQueueSize); s.QueueSize <= 0 {
		r.invalid("plugin.tutti.queue_size", "must be positive")
	}
	s.AgentConcurrency = readAgentConcurrency(r)
	if s.RateLimit = r.float("plugin.tutti.rate_limit", 0); s.RateLimit < 0 {
		r.invalid("plugin.tutti.rate_limit", "must not be negative (0 is no limit)")
	}
	if s.RateBurst = r.int("plugin.tutti.rate_burst", 0); s.RateBurst < 0 {
		r.invalid("plugin.tutti.rate_burst", "must not be negative (0 is twice the rate)")
	}
	if r.bool("plugin.security.server_anon_tls", false) {
		r.fail("plugin.security.server_anon_tls", fmt.Errorf("%w: servers always verify TLS in protocol v1", ErrUnsupported))
	}
	warnRole(r, "node")
	if err := r.err(); err != nil {
		return nil, err
	}
	return s, nil
}

// readAgentConcurrency reads plugin.tutti.agent.<agent>.concurrency.
func readAgentConcurrency(r *reader) map[string]int {
	var out map[string]int
	for _, key := range r.f.Keys() {
		a, ok := strings.CutPrefix(key, "plugin.tutti.agent.")
		if !ok {
			continue
		}
		if a, ok = strings.CutSuffix(a, ".concurrency"); !ok || a == "" || strings.Contains(a, ".") {
			continue
		}
		v := r.int(key, 0)
		if v < 0 {
			r.invalid(key, "must not be negative (0 is no cap beyond the workers)")
			continue
		}
		if out == nil {
			out = map[string]int{}
		}
		out[a] = v
	}
	return out
}

func readFilterLimits(r *reader) FilterLimits {
	positive := func(key string, def int) int {
		v := r.int(key, def)
		if v <= 0 {
			r.invalid(key, "must be positive")
			return def
		}
		return v
	}
	return FilterLimits{
		MaxEntries:          positive("plugin.tutti.filter.max_entries", defaultFilterMaxEntries),
		MaxRegexes:          positive("plugin.tutti.filter.max_regexes", defaultFilterMaxRegexes),
		MaxRegexLength:      positive("plugin.tutti.filter.max_regex_length", defaultFilterMaxRegexLength),
		MaxExpressions:      positive("plugin.tutti.filter.max_expressions", defaultFilterMaxExpressions),
		MaxExpressionLength: positive("plugin.tutti.filter.max_expression_length", defaultFilterMaxExpressionLength),
		MaxExpressionDepth:  positive("plugin.tutti.filter.max_expression_depth", defaultFilterMaxExpressionDepth),
	}
}

func readAuthorization(r *reader) Authorization {
	a := Authorization{
		Enabled:           r.bool("rpcauthorization", true),
		Provider:          r.str("rpcauthprovider", defaultAuthProvider),
		AllowUnconfigured: r.bool("plugin.actionpolicy.allow_unconfigured", false),
		EnableDefault:     r.bool("plugin.actionpolicy.enable_default", false),
		DefaultName:       r.str("plugin.actionpolicy.default_name", defaultPolicyName),
		PolicyDir:         r.path("plugin.tutti.policy_dir", defaultPolicyDir(r.f.Dir)),
	}
	if a.Provider != defaultAuthProvider {
		r.fail("rpcauthprovider", fmt.Errorf("%w: %q (tutti implements action_policy only)", ErrUnsupported, clip(a.Provider)))
	}
	if strings.ContainsAny(a.DefaultName, `/\`) || a.DefaultName == "." || a.DefaultName == ".." {
		r.invalid("plugin.actionpolicy.default_name", "%q must be a plain file name", clip(a.DefaultName))
	}
	if !a.Enabled {
		r.warn("rpcauthorization", "authorization is off: every caller may run every action")
	}
	return a
}

func readAudit(r *reader) Audit {
	a := Audit{
		Enabled:       r.bool("rpcaudit", false),
		Provider:      r.enum("rpcauditprovider", defaultAuditProvider),
		LogFile:       r.path("plugin.rpcaudit.logfile", ""),
		Mode:          r.mode("plugin.rpcaudit.logfile.mode", defaultAuditMode),
		Group:         r.str("plugin.rpcaudit.logfile.group", ""),
		Required:      r.bool("plugin.tutti.audit.required", true),
		Stream:        r.bool("plugin.tutti.audit.stream", false),
		Subject:       r.str("plugin.tutti.audit.subject", ""),
		SpoolMaxBytes: int64(r.int("plugin.tutti.audit.spool_max_bytes", defaultAuditSpoolMaxBytes)),
		SpoolFsync:    r.enum("plugin.tutti.audit.spool_fsync", defaultAuditSpoolFsync),

		SpoolFsyncInterval: r.duration("plugin.tutti.audit.spool_fsync_interval", defaultAuditSpoolFsyncInterval),
		StreamLinger:       r.duration("plugin.tutti.audit.stream_linger", defaultAuditStreamLinger),
		StreamDrain:        r.duration("plugin.tutti.audit.stream_drain", defaultAuditStreamDrain),

		Chain:              r.bool("plugin.tutti.audit.chain", true),
		ChainState:         r.path("plugin.tutti.audit.chain_state", ""),
		CheckpointInterval: r.duration("plugin.tutti.audit.checkpoint_interval", defaultCheckpointInterval),
		CheckpointRecords:  r.int("plugin.tutti.audit.checkpoint_records", defaultCheckpointRecords),
	}
	if a.ChainState == "" && a.LogFile != "" {
		a.ChainState = a.LogFile + ".chain"
	}
	a.SpoolDir = r.path("plugin.tutti.audit.spool_dir", "")
	if a.SpoolDir == "" && a.LogFile != "" {
		a.SpoolDir = a.LogFile + ".spool"
	}
	if a.Enabled && a.LogFile == "" {
		r.invalid("plugin.rpcaudit.logfile", "required when rpcaudit = 1")
	}
	if a.Required && !a.Enabled && r.has("plugin.tutti.audit.required") {
		r.invalid("plugin.tutti.audit.required", "set, but rpcaudit is off")
	}
	if a.Stream && !a.Enabled {
		r.invalid("plugin.tutti.audit.stream", "set, but rpcaudit is off")
	}
	if a.SpoolMaxBytes < 1024 {
		r.invalid("plugin.tutti.audit.spool_max_bytes", "%d is under 1024", a.SpoolMaxBytes)
	}
	if a.SpoolFsyncInterval <= 0 || a.SpoolFsyncInterval > time.Minute {
		r.invalid("plugin.tutti.audit.spool_fsync_interval", "%v is not between 0 and 60 seconds", a.SpoolFsyncInterval)
	}
	if a.StreamDrain < 0 || a.StreamDrain > time.Minute {
		r.invalid("plugin.tutti.audit.stream_drain", "%v is not between 0 and 60 seconds", a.StreamDrain)
	}
	if a.StreamLinger < 0 || a.StreamLinger > time.Minute {
		r.invalid("plugin.tutti.audit.stream_linger", "%v is not between 0 and 60 seconds", a.StreamLinger)
	}
	return a
}

// SpoolLinger is plugin.tutti.audit.stream_linger as audit.SpoolConfig's
// Linger: negative (each record alone) for 0.
func (a Audit) SpoolLinger() time.Duration {
	if a.StreamLinger <= 0 {
		return -1
	}
	return a.StreamLinger
}

// SpoolFsyncDelay is the spool's fsync policy as audit.SpoolConfig's
// FsyncInterval: 0 when every record is fsynced before the action runs
// (spool_fsync = always), else the longest an undelivered record waits
// for its fsync.
func (a Audit) SpoolFsyncDelay() time.Duration {
	if a.SpoolFsync == "always" {
		return 0
	}
	return a.SpoolFsyncInterval
}

// libDirs joins libdir and plugin.choria.agent_provider.mcorpc.libdir.
func libDirs(r *reader) []string {
	var out []string
	for _, d := range append(r.paths("libdir"), r.paths("plugin.choria.agent_provider.mcorpc.libdir")...) {
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// ClientFrom builds the CLI's typed configuration from f.
func ClientFrom(f *File) (*Client, error) {
	r := &reader{f: f}
	c := &Client{Common: readCommon(r, clientCertName)}
	c.TTL = r.duration("ttl", defaultTTL)
	switch {
	case c.TTL <= 0:
		r.invalid("ttl", "must be positive")
	case c.TTL.Seconds() < 30:
		r.warn("ttl", "below 30 seconds: nodes drop such requests")
	}
	c.DiscoveryTimeout = r.duration("discovery_timeout", defaultDiscoveryTimeout)
	if c.DiscoveryTimeout <= 0 {
		r.invalid("discovery_timeout", "must be positive")
	}
	c.DirectAddressing = r.bool("direct_addressing", true)
	c.DirectAddressingThreshold = r.int("direct_addressing_threshold", defaultDirectThreshold)
	if c.DirectAddressingThreshold < 0 {
		r.invalid("direct_addressing_threshold", "must not be negative")
	}
	c.RPCLimitMethod = r.enum("rpclimitmethod", defaultRPCLimitMethod)
	c.RequireClientFilter = r.bool("plugin.choria.require_client_filter", false)
	c.CallerKind = r.enum("plugin.tutti.callerid_kind", defaultCallerKind)
	c.RequestSigner = readSigner(r)
	c.LoginURLs = r.urlList("plugin.login.aaasvc.login.url")
	c.LibDirs = libDirs(r)
	c.AgentDirs = r.paths("plugin.tutti.agents_dir")
	c.AuditStream = r.str("plugin.tutti.audit.stream_name", defaultAuditStreamName)
	c.DiscoveryMethod = r.str("default_discovery_method", "mc")
	c.DiscoveryOptions = r.list("default_discovery_options", nil)
	c.WindowedDiscovery = r.bool("plugin.choria.discovery.broadcast.windowed_timeout", false)
	c.AnonTLS = r.bool("plugin.security.client_anon_tls", false)
	if c.AnonTLS {
		if c.RequestSigner.URL == "" && !c.RequestSigner.Service {
			r.invalid("plugin.security.client_anon_tls", "needs a remote signer (plugin.choria.security.request_signer.url or .service)")
		} else {
			r.warn("plugin.security.client_anon_tls", "the broker connection is not verified")
		}
	}
	warnReplySigning(r, c.Security)
	warnRole(r, "client")
	if err := r.err(); err != nil {
		return nil, err
	}
	return c, nil
}

func readSigner(r *reader) RequestSigner {
	const p = "plugin.choria.security.request_signer."
	s := RequestSigner{
		TokenEnv:  r.str(p+"token_environment", ""),
		TokenFile: r.path(p+"token_file", ""),
		Force:     r.bool(p+"force", false),
		Service:   r.bool(p+"service", false),
		CA:        r.path("plugin.tutti.request_signer.ca", ""),
		Insecure:  r.bool("plugin.tutti.request_signer.insecure", false),
	}
	if urls := r.urlList(p + "url"); len(urls) > 1 {
		r.invalid(p+"url", "one URL expected")
	} else if len(urls) == 1 {
		s.URL = urls[0]
	}
	s.SeedFile = r.path(p+"seed_file", seedFileFor(s.TokenFile))
	if s.Insecure {
		r.warn("plugin.tutti.request_signer.insecure", "the signer's TLS certificate is not verified")
	}
	return s
}

// seedFileFor is the default seed file: the token file with its extension
// replaced by .key (~/.choria/token.jwt → ~/.choria/token.key; a dot file
// such as ~/.choria_token keeps its name: ~/.choria_token.key).
func seedFileFor(tokenFile string) string {
	if tokenFile == "" {
		return ""
	}
	base := tokenFile
	if ext := filepath.Ext(base); ext != "" && ext != filepath.Base(base) {
		base = strings.TrimSuffix(base, ext)
	}
	return base + ".key"
}

// urlList reads a comma list of http(s) URLs.
func (r *reader) urlList(key string) []string {
	l := r.list(key, nil)
	for _, s := range l {
		u, err := url.Parse(s)
		if err != nil {
			r.fail(key, fmt.Errorf("%w: %w", ErrInvalidValue, err))
		} else if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			r.invalid(key, "%q is not an http(s) URL", clip(s))
		}
	}
	return l
}

// BrokerFrom builds the embedded broker's configuration from f.
func BrokerFrom(f *File) (*Broker, error) {
	const p = "plugin.choria.network."
	r := &reader{f: f}
	b := &Broker{
		Common:         readCommon(r, func(id string) string { return id }),
		ListenAddress:  r.str(p+"listen_address", defaultBrokerListen),
		ClientPort:     r.port(p+"client_port", defaultBrokerClientPort),
		PeerPort:       r.port(p+"peer_port", 0),
		MonitorPort:    r.port(p+"monitor_port", r.port("plugin.choria.stats_port", 0)),
		StreamStore:    r.path(p+"stream.store", ""),
		MetricsPort:    r.port("plugin.tutti.metrics_port", 0),
		MetricsAddress: r.str("plugin.choria.stats_address", defaultStatsAddress),
	}
	if b.ClientPort == 0 {
		r.invalid(p+"client_port", "must not be 0")
	}
	b.Authorization = readBrokerAuthorization(r)
	b.AuditStream = readAuditStream(r)
	b.Links = readBrokerLinks(r)
	if b.PeerPort != 0 && len(b.Links.LinkCertificates) == 0 {
		r.invalid("plugin.tutti.broker.link_certificates", "is required with a cluster (%speer_port): "+
			"the CA also signs node and client certificates, and any of them could otherwise join the cluster as a broker "+
			"and read and write every subject", p)
	}
	b.AuditStream.Sources = r.list("plugin.tutti.broker.audit_stream.sources", nil)
	for _, peer := range r.list(p+"peers", nil) {
		u, err := NormalizeNATSURL(peer)
		if err != nil {
			r.fail(p+"peers", err)
			continue
		}
		b.Peers = append(b.Peers, u)
	}
	if err := r.err(); err != nil {
		return nil, err
	}
	return b, nil
}

// readAuditStream reads plugin.tutti.broker.audit_stream*.
func readAuditStream(r *reader) AuditStream {
	const p = "plugin.tutti.broker.audit_stream"
	a := AuditStream{
		Enabled:    r.bool(p, true),
		Name:       r.str(p+".name", defaultAuditStreamName),
		Subjects:   r.list(p+".subjects", strings.Split(defaultAuditStreamSubjects, ",")),
		MaxAge:     r.duration(p+".max_age", 0),
		MaxBytes:   int64(r.int(p+".max_bytes", 0)),
		Replicas:   r.int(p+".replicas", 1),
		Duplicates: r.duration(p+".duplicates", defaultAuditStreamDuplicates),
	}
	if a.Name == "" || strings.ContainsAny(a.Name, ". *>\t/\\") {
		r.invalid(p+".name", "%q is not a stream name (no dots, spaces, wildcards or slashes)", clip(a.Name))
	}
	if a.Replicas < 1 || a.Replicas > 5 {
		r.invalid(p+".replicas", "%d is not 1 to 5", a.Replicas)
	}
	if a.Duplicates <= 0 {
		r.invalid(p+".duplicates", "must be positive")
	}
	if a.MaxAge < 0 || a.MaxBytes < 0 {
		r.invalid(p+".max_age", "max_age and max_bytes must not be negative")
	}
	return a
}

// readBrokerAuthorization reads plugin.tutti.broker.* and the login
// token keys.
func readBrokerAuthorization(r *reader) BrokerAuthorization {
	const p = "plugin.tutti.broker."
	a := BrokerAuthorization{
		NodeCertificates:       r.regexList(p+"node_certificates", nil),
		SharedNodeCertificates: r.regexList(p+"shared_node_certificates", nil),
		AdminCertificates:      r.regexList(p+"admin_certificates", nil),
		AuditSubjects:          r.list(p+"audit_subjects", []string{defaultAuditSubject}),
		AuditReaders:           r.regexList(p+"audit_readers", nil),
		AuditStream:            r.str("plugin.tutti.broker.audit_stream.name", defaultAuditStreamName),
	}
	for _, f := range r.list("plugin.choria.network.client_signer_cert", nil) {
		a.ClientSignerCerts = append(a.ClientSignerCerts, resolvePath(r.f.Dir, f))
	}
	for _, key := range r.f.Keys() {
		c, ok := strings.CutPrefix(key, p+"collective.")
		if !ok {
			continue
		}
		if c, ok = strings.CutSuffix(c, ".clients"); !ok || c == "" || strings.Contains(c, ".") {
			continue
		}
		if a.CollectiveClients == nil {
			a.CollectiveClients = map[string][]string{}
		}
		a.CollectiveClients[c] = r.regexList(key, nil)
		if len(a.CollectiveClients[c]) == 0 {
			r.invalid(key, "is empty: list the certificate patterns allowed in %q", clip(c))
		}
	}
	return a
}

// warnRole warns about broker-only keys in node and client configs.
// warnReplySigning says what the client's reply rules mean for a fleet
// with Choria servers, which never sign their replies.
func warnReplySigning(r *reader, s Security) {
	const key = "plugin.tutti.require_signed_replies"
	switch {
	case !s.RequireSignedReplies:
		r.warn(key, "unsigned replies are accepted (marked unsigned): anyone who can publish to your reply subjects can answer for a node")
	case s.ChoriaServers && !r.has(key):
		r.warn("plugin.tutti.choria_servers", "Choria servers never sign their replies, and "+key+
			" is on by default: their replies will be refused; set "+key+" = false to accept them (marked unsigned)")
	}
}

func warnRole(r *reader, role string) {
	for _, key := range r.f.Keys() {
		if ki, ok := Lookup(key); ok && ki.Status == BrokerOnly {
			r.warn(key, "broker setting, ignored by the "+role+" (run a stock nats-server or tuttid broker)")
		}
	}
}

// ClientCertName is the client's certificate name (docs/protocol.md §8.5):
// $MCOLLECTIVE_CERTNAME if set; otherwise <$USER>.mcollective when not
// running as root; the configured identity as root.
func ClientCertName(c *Client) string {
	return clientCertName(c.Identity)
}

func clientCertName(identity string) string {
	if n := strings.TrimSpace(os.Getenv("MCOLLECTIVE_CERTNAME")); n != "" {
		return n
	}
	if os.Geteuid() == 0 {
		return identity
	}
	name := os.Getenv("USER")
	if name == "" {
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
	}
	if name == "" {
		return identity
	}
	return name + ".mcollective"
}

// LoadServer reads the node config at path or, when path is "", the
// first existing file of ServerConfigPaths.
func LoadServer(path string) (*Server, *File, error) {
	return load(path, "node", ServerConfigPaths(), ServerFrom)
}

// LoadBroker reads the broker config at path or, when path is "", the
// first existing file of BrokerConfigPaths.
func LoadBroker(path string) (*Broker, *File, error) {
	return load(path, "broker", BrokerConfigPaths(), BrokerFrom)
}

// LoadClient reads the client config at path or, when path is "", the
// first existing file of ClientConfigPaths (docs/config-reference.md §2). When none exists the error is
// a *NotFoundError naming the files searched.
func LoadClient(path string) (*Client, *File, error) {
	return load(path, "client", ClientConfigPaths(), ClientFrom)
}

// NotFoundError is the error of a Load function given no path when no
// file of its search list exists. It wraps ErrNoConfig.
type NotFoundError struct {
	Role     string   // "client", "node" or "broker"
	Searched []string // the files looked for, in order, ~ expanded
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("no %s configuration file found (searched, in order: %s): name one with --config FILE",
		e.Role, strings.Join(e.Searched, ", "))
}

// Unwrap makes errors.Is(err, ErrNoConfig) hold.
func (e *NotFoundError) Unwrap() error { return ErrNoConfig }

func load[T any](path, role string, search []string, build func(*File) (*T, error)) (*T, *File, error) {
	if path == "" {
		nf := &NotFoundError{Role: role}
		for _, p := range search {
			p = expandHome(p)
			if _, err := os.Stat(p); err == nil {
				path = p
				break
			}
			nf.Searched = append(nf.Searched, p)
		}
		if path == "" {
			return nil, nil, nf
		}
	}
	f, err := ParseFile(expandHome(path))
	if err != nil {
		return nil, nil, err
	}
	v, err := build(f)
	if err != nil {
		return nil, f, err
	}
	return v, f, nil
}
