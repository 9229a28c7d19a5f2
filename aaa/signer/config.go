package signer

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tuttifleet/tutti/aaa/login"
	"github.com/tuttifleet/tutti/aaa/sso/ssoconfig"
)

// ErrConfig is wrapped by every refusal of a tutti-aaa configuration.
var ErrConfig = errors.New("invalid tutti-aaa configuration")

// Defaults (docs/signer-api.md §9).
const (
	DefaultSite          = "default"
	DefaultMaxTTL        = time.Hour
	DefaultListenAddress = "::"
	DefaultReadTimeout   = 10 * time.Second
	DefaultWriteTimeout  = 10 * time.Second
	DefaultIdleTimeout   = 2 * time.Minute
)

// Duration is a time.Duration read from a Go duration string ("1h") or
// a number of seconds.
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a duration must be a string like \"1h\" or seconds", n.Line)
	}
	if secs, err := strconv.ParseFloat(n.Value, 64); err == nil {
		*d = Duration(secs * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the Go duration string ("1h0m0s"), which
// UnmarshalYAML reads back.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// AuditChainConfig is audit_chain: tutti-aaa's records are chained and
// checkpoints signed with the privileged key (docs/central-aaa.md), when
// the service signs (signer: basicjwt).
type AuditChainConfig struct {
	Disabled bool `yaml:"disabled"`
	// StateFile keeps the chain head across restarts; default
	// logfile_auditor.logfile + ".chain", none without a logfile.
	StateFile string `yaml:"state_file"`
	// CheckpointInterval between signed checkpoints; 0 means 60s,
	// negative none by time.
	CheckpointInterval Duration `yaml:"checkpoint_interval"`
	// CheckpointRecords: a checkpoint every N records; 0 means 1000,
	// negative none by count.
	CheckpointRecords int `yaml:"checkpoint_records"`
}

// Config is tutti-aaa's configuration file (docs/signer-api.md §9). The keys are
// aaasvc's, so an aaasvc JSON file loads as it is (JSON is YAML); the
// tutti additions are marked.
type Config struct {
	LogFile  string `yaml:"logfile"`
	LogLevel string `yaml:"loglevel"`
	// ChoriaConfig is a Choria-style config naming the privileged
	// certificate, key and CA (plugin.security.file.*); cmd/tutti-aaa
	// resolves it into the Privileged* fields.
	ChoriaConfig  string   `yaml:"choria_config"`
	Authenticator string   `yaml:"authenticator"` // "userlist" or "" (no /login)
	Authorizer    string   `yaml:"authorizer"`    // "actionlist"
	Auditors      []string `yaml:"auditors"`      // "logfile", "jetstream"
	Signer        string   `yaml:"signer"`        // "basicjwt" or "" (no /sign)
	// Port is the HTTPS port; -1 picks a free port (tests).
	Port int `yaml:"port"`
	// MonitorPort serves /metrics and /healthz over plain HTTP; 0 disables.
	MonitorPort    int    `yaml:"monitor_port"`
	Site           string `yaml:"site"`
	TLSCertificate string `yaml:"tls_certificate"`
	TLSKey         string `yaml:"tls_key"`
	// TLSCA set requires and verifies client certificates (mTLS).
	TLSCA string `yaml:"tls_ca"`

	BasicJWT BasicJWTConfig `yaml:"basicjwt_signer"`
	Userlist UserlistConfig `yaml:"userlist_authenticator"`
	// tutti: single sign-on over OpenID Connect (aaa/sso), beside or
	// instead of the userlist; tokens are signed with
	// userlist_authenticator.signing_key.
	OIDC           ssoconfig.Config `yaml:"oidc_authenticator"`
	LogfileAuditor struct {
		Logfile string `yaml:"logfile"`
	} `yaml:"logfile_auditor"`
	JetStreamAuditor struct {
		Servers string `yaml:"servers"`
		Topic   string `yaml:"topic"`
		// tutti: records reach the stream through a durable local spool
		// (aaa/audit.Spool): the signer signs only what is in the stream
		// or fsynced here. Default <logfile_auditor.logfile>.spool.
		SpoolDir string `yaml:"spool_dir"`
		// tutti: undelivered bytes the spool holds before signing is
		// refused (default 256 MiB).
		SpoolMaxBytes int64 `yaml:"spool_max_bytes"`
	} `yaml:"jetstream_auditor"`
	// tutti: the tamper-evident chain of the audit records.
	AuditChain AuditChainConfig `yaml:"audit_chain"`

	// tutti: bind address (aaasvc binds every interface), default "::".
	ListenAddress string   `yaml:"listen_address"`
	ReadTimeout   Duration `yaml:"read_timeout"`
	WriteTimeout  Duration `yaml:"write_timeout"`
	IdleTimeout   Duration `yaml:"idle_timeout"`
	// tutti: largest request ttl the signer accepts, default 1h.
	MaxTTL Duration `yaml:"max_ttl"`
	// tutti: the privileged certificate (e.g. aaa.privileged.mcollective),
	// its key and the fleet CA. Alternative to choria_config.
	PrivilegedCertificate string `yaml:"privileged_certificate"`
	PrivilegedKey         string `yaml:"privileged_key"`
	PrivilegedCA          string `yaml:"privileged_ca"`
	// tutti: serve plain HTTP. For tests and TLS-terminating proxies on
	// localhost only; tutti-aaa's --insecure-http flag sets it too.
	InsecureHTTP bool `yaml:"insecure_http"`
	// tutti: the fleet has Choria servers, which verify only RSA request
	// signatures (and crash on others): refuse to start, or to sign,
	// with a privileged certificate whose key is not RSA. Default false.
	ChoriaServers bool `yaml:"choria_servers"`
	// tutti: two-person approval (docs/central-aaa.md).
	Approval ApprovalConfig `yaml:"approval"`
	// tutti: where token revocations are kept.
	TokenRevocation TokenRevocationConfig `yaml:"token_revocation"`
	// tutti: failed-login limits.
	LoginLimits struct {
		UserBurst int      `yaml:"user_burst"`
		UserEvery Duration `yaml:"user_every"`
		AddrBurst int      `yaml:"address_burst"`
		AddrEvery Duration `yaml:"address_every"`
	} `yaml:"login_rate_limit"`
}

// BasicJWTConfig is basicjwt_signer.
type BasicJWTConfig struct {
	// SigningCertificate verifies tokens: PEM certificate or public key,
	// or hex ed25519 public key.
	SigningCertificate string   `yaml:"signing_certificate"`
	MaxValidity        Duration `yaml:"max_validity"`
	ChoriaService      bool     `yaml:"choria_service"`
	AllowBearerTokens  bool     `yaml:"allow_bearer_tokens"`
}

// UserlistConfig is userlist_authenticator.
type UserlistConfig struct {
	Validity   Duration     `yaml:"validity"`
	SigningKey string       `yaml:"signing_key"`
	Users      []login.User `yaml:"users"`
	UsersFile  string       `yaml:"users_file"`
}

// knownKeys are the top-level keys Config reads.
var knownKeys = []string{
	"logfile", "loglevel", "choria_config", "authenticator", "authorizer", "auditors", "signer",
	"port", "monitor_port", "site", "tls_certificate", "tls_key", "tls_ca", "basicjwt_signer",
	"userlist_authenticator", "logfile_auditor", "jetstream_auditor", "listen_address",
	"read_timeout", "write_timeout", "idle_timeout", "max_ttl", "privileged_certificate",
	"privileged_key", "privileged_ca", "insecure_http", "login_rate_limit", "choria_servers",
	"approval",
	"oidc_authenticator",
}

// LoadConfig reads path. Unknown top-level keys (other aaasvc plugins)
// are returned as warnings, not errors, so aaasvc files keep loading.
func LoadConfig(path string) (*Config, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return ParseConfig(data)
}

// ParseConfig parses a config document, applies defaults and validates.
func ParseConfig(data []byte) (*Config, []string, error) {
	return ParseConfigWith(data, nil)
}

// ParseConfigWith is ParseConfig with a hook that may adjust the parsed
// settings (command line overrides, choria_config) before defaults and
// validation.
func ParseConfigWith(data []byte, adjust func(*Config) error) (*Config, []string, error) {
	var c Config
	if err := yaml.Unmarshal(data, &c); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	var raw map[string]any
	_ = yaml.Unmarshal(data, &raw) // already parsed once above
	var warnings []string
	for k := range raw {
		if !slices.Contains(knownKeys, k) {
			warnings = append(warnings, fmt.Sprintf("unknown setting %q ignored", k))
		}
	}
	sort.Strings(warnings)
	if adjust != nil {
		if err := adjust(&c); err != nil {
			return nil, warnings, err
		}
	}
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		return nil, warnings, err
	}
	return &c, warnings, nil
}

func (c *Config) applyDefaults() {
	if c.Site == "" {
		c.Site = DefaultSite
	}
	if c.ListenAddress == "" {
		c.ListenAddress = DefaultListenAddress
	}
	setDur := func(d *Duration, def time.Duration) {
		if *d <= 0 {
			*d = Duration(def)
		}
	}
	setDur(&c.ReadTimeout, DefaultReadTimeout)
	setDur(&c.WriteTimeout, DefaultWriteTimeout)
	setDur(&c.IdleTimeout, DefaultIdleTimeout)
	setDur(&c.MaxTTL, DefaultMaxTTL)
	setDur(&c.Userlist.Validity, login.DefaultValidity)
	if c.Authorizer == "" {
		c.Authorizer = "actionlist"
	}
	if c.OIDC.Enabled() {
		c.OIDC.ApplyDefaults()
	}
}

// Validate checks the settings that can be checked without opening
// files. Every problem is reported.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...))
	}
	if c.Port == 0 || c.Port < -1 || c.Port > 65535 {
		bad("port must be 1-65535 (an integer), got %d", c.Port)
	}
	if c.MonitorPort < -1 || c.MonitorPort > 65535 {
		bad("monitor_port must be 0-65535, got %d", c.MonitorPort)
	}
	if !c.InsecureHTTP && (c.TLSCertificate == "" || c.TLSKey == "") {
		bad("tls_certificate and tls_key are required (plain HTTP only with insecure_http, for tests)")
	}
	if c.InsecureHTTP && (c.TLSCertificate != "" || c.TLSKey != "") {
		bad("insecure_http (or run --insecure-http) asks for plain HTTP but tls_certificate/tls_key ask for HTTPS: remove one of them")
	}
	switch c.Authenticator {
	case "":
	case "userlist":
		if c.Userlist.SigningKey == "" && !c.OIDC.Enabled() {
			bad("userlist_authenticator.signing_key is required")
		}
		if (len(c.Userlist.Users) == 0) == (c.Userlist.UsersFile == "") {
			bad("userlist_authenticator needs exactly one of users and users_file")
		}
	default:
		bad("authenticator %q is not supported (userlist or empty)", c.Authenticator)
	}
	if c.Authorizer != "actionlist" {
		bad("authorizer %q is not supported (tutti-aaa implements actionlist, the JWT agents claim)", c.Authorizer)
	}
	switch c.Signer {
	case "":
	case "basicjwt":
		if c.BasicJWT.SigningCertificate == "" {
			bad("basicjwt_signer.signing_certificate is required")
		}
		if c.BasicJWT.MaxValidity <= 0 {
			bad("basicjwt_signer.max_validity is required (a Go duration such as \"1h\")")
		}
		if c.ChoriaConfig == "" && (c.PrivilegedCertificate == "" || c.PrivilegedKey == "" || c.PrivilegedCA == "") {
			bad("the signer needs choria_config or privileged_certificate, privileged_key and privileged_ca")
		}
	default:
		bad("signer %q is not supported (basicjwt or empty)", c.Signer)
	}
	if c.OIDC.Enabled() {
		errs = append(errs, c.OIDC.Validate())
		if c.Userlist.SigningKey == "" {
			bad("oidc_authenticator signs with userlist_authenticator.signing_key, which is not set")
		}
	}
	if c.Authenticator == "" && c.Signer == "" && !c.OIDC.Enabled() {
		bad("neither authenticator nor signer is enabled: nothing to serve")
	}
	for _, a := range c.Auditors {
		switch a {
		case "logfile":
			if c.LogfileAuditor.Logfile == "" {
				bad("logfile_auditor.logfile is required")
			}
		case "jetstream":
			if c.JetStreamAuditor.Servers == "" || c.JetStreamAuditor.Topic == "" {
				bad("jetstream_auditor.servers and .topic are required")
			}
			if c.JetStreamAuditor.SpoolDir == "" && c.LogfileAuditor.Logfile == "" {
				bad("jetstream_auditor.spool_dir is required (the default needs logfile_auditor.logfile)")
			}
			if c.JetStreamAuditor.SpoolMaxBytes < 0 {
				bad("jetstream_auditor.spool_max_bytes must not be negative")
			}
		default:
			bad("auditor %q is not supported (logfile, jetstream)", a)
		}
	}
	errs = append(errs, c.Approval.validate()...)
	if len(c.Approval.Rules) > 0 && c.Signer == "" {
		bad("approval rules need the signer (signer: basicjwt)")
	}
	if c.MaxTTL < Duration(30*time.Second) {
		bad("max_ttl %s is below the protocol minimum ttl of 30s", time.Duration(c.MaxTTL))
	}
	return errors.Join(errs...)
}
