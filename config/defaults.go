package config

import (
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Defaults, in one place. The key table (keytable.go) documents them from
// these values; the builders (build.go) apply them.
const (
	defaultCollective       = "mcollective"
	defaultConnector        = "nats"
	defaultSecurityProvider = "file"
	defaultMaxTTL           = time.Hour
	defaultTTL              = 60 * time.Second
	defaultDiscoveryTimeout = 2 * time.Second
	defaultDirectThreshold  = 10
	defaultRPCLimitMethod   = "first"
	defaultCallerKind       = "choria"
	defaultRegisterInterval = 300 * time.Second
	defaultSoftShutdown     = 2 * time.Second
	defaultQueueSize        = 1024
	defaultLogFile          = "stdout"
	defaultLogLevel         = "info"
	// defaultMaxMessageSize mirrors protocol.DefaultMaxMessageSize (4 MiB);
	// config stays free of project imports, a test keeps the two equal.
	defaultMaxMessageSize = 4 << 20
	defaultAuthProvider   = "action_policy"
	// The filter limits mirror server/filter's Default* (a test keeps
	// them equal).
	defaultFilterMaxEntries          = 100000
	defaultFilterMaxRegexes          = 256
	defaultFilterMaxRegexLength      = 1024
	defaultFilterMaxExpressions      = 64
	defaultFilterMaxExpressionLength = 4096
	defaultFilterMaxExpressionDepth  = 32
	defaultPolicyName                = "default"
	defaultPolicySubdir              = "policies"
	defaultAuditMode                 = os.FileMode(0o600)
	defaultAuditProvider             = "choria"
	defaultClassesFile               = "/opt/puppetlabs/puppet/cache/state/classes.txt"
	defaultStatsAddress              = "127.0.0.1"
	defaultAuditSubject              = "tutti.aaa.audit.>"
	defaultAuditStreamName           = "TUTTI_AUDIT"
	defaultAuditStreamSubjects       = "tutti.audit.>,tutti.aaa.audit.>"
	defaultAuditStreamDuplicates     = 20 * time.Minute
	// defaultAuditSpoolMaxBytes bounds a node's audit spool (256 MiB).
	defaultAuditSpoolMaxBytes = 256 << 20
	defaultStatusInterval     = 30 * time.Second
	defaultNATSPort           = 4222
	defaultBrokerListen       = "::"
	defaultBrokerClientPort   = 4222
	defaultVHost              = "mcollective"
	defaultRabbitMQVHost      = "/"
	defaultSTOMPPort          = 61613
	defaultInitialReconnect   = 10 * time.Millisecond
	defaultMaxReconnect       = 30 * time.Second
	defaultBackOff            = 2.0
	defaultConnectTimeout     = 30 * time.Second
	defaultRootSSLDir         = "/etc/puppetlabs/puppet/ssl"
	defaultUserSSLDir         = "~/.puppetlabs/etc/puppet/ssl"
)

// Default regex lists (docs/config-reference.md §6).
func defaultCertnameAllow() []string { return []string{`\.mcollective$`, `\.choria$`} }
func defaultPrivileged() []string {
	return []string{`\.privileged.mcollective$`, `\.privileged.choria$`}
}

// ClientConfigPaths is the client's search list when no file is named,
// first that exists wins: the user's own files, then the file tutti's
// packages install, then Choria's and MCollective's system files. tutti's
// package comes before Choria's so that a host with both finds the file
// installed for tutti; a user's ~/.choriarc wins over both. Entries
// starting with ~ are expanded when searched.
func ClientConfigPaths() []string {
	return []string{
		"~/.choriarc",
		"~/.mcollective",
		"/etc/tutti/client.conf",
		"/etc/choria/client.conf",
		"/usr/local/etc/choria/client.conf",
		"/etc/puppetlabs/mcollective/client.cfg",
	}
}

// ServerConfigPaths is the node's search list (tuttid without --config):
// the packaged /etc/tutti/server.conf, then Choria's.
func ServerConfigPaths() []string {
	return []string{"/etc/tutti/server.conf", "/etc/choria/server.conf"}
}

// BrokerConfigPaths is the broker's search list (tuttid broker without
// --config), in the same order.
func BrokerConfigPaths() []string {
	return []string{"/etc/tutti/broker.conf", "/etc/choria/broker.conf"}
}

// defaultIdentity is the host name. The FQDN is used when the kernel's host
// name already is one; tutti does not do a DNS lookup at start-up (slow and
// a source of surprises when resolvers are down) — set identity explicitly
// when the short name is not unique.
func defaultIdentity() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return strings.TrimSuffix(h, ".")
}

// defaultSSLDir is Puppet's ssldir for root, else the per-user one.
func defaultSSLDir() string {
	if os.Geteuid() == 0 {
		return defaultRootSSLDir
	}
	return expandHome(defaultUserSSLDir)
}

// defaultPolicyDir is <configdir>/policies.
func defaultPolicyDir(dir string) string {
	if dir == "" {
		return defaultPolicySubdir
	}
	return filepath.Join(dir, defaultPolicySubdir)
}

// The audit chain's checkpoints; they mirror audit.DefaultCheckpointInterval
// and audit.DefaultCheckpointRecords.
const (
	defaultCheckpointInterval = time.Minute
	defaultCheckpointRecords  = 1000
)

// The audit spool's fsync policy: records are written before the
// action runs (a kill -9 loses none) and fsynced within a second unless
// the stream acknowledged them first (docs/operations.md).
const (
	defaultAuditSpoolFsync         = "interval"
	defaultAuditSpoolFsyncInterval = time.Second
	// defaultAuditStreamLinger is under the fsync interval, so a record
	// is usually in the stream before its fsync is due (and never
	// fsynced).
	defaultAuditStreamLinger = 500 * time.Millisecond
	// defaultAuditStreamDrain is how long a stopping node goes on
	// delivering its spooled records (the open batch at once).
	defaultAuditStreamDrain = 2 * time.Second
)
