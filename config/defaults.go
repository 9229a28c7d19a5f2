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
	defaultLogFile          = "stdout"
	defaultLogLevel         = "info"
	// defaultMaxMessageSize mirrors protocol.DefaultMaxMessageSize (4 MiB);
	// config stays free of project imports, a test keeps the two equal.
	defaultMaxMessageSize        = 4 << 20
	defaultAuthProvider          = "action_policy"
	defaultPolicyName            = "default"
	defaultPolicySubdir          = "policies"
	defaultAuditMode             = os.FileMode(0o600)
	defaultAuditProvider         = "choria"
	defaultClassesFile           = "/opt/puppetlabs/puppet/cache/state/classes.txt"
	defaultStatsAddress          = "127.0.0.1"
	defaultAuditSubject          = "tutti.aaa.audit.>"
	defaultAuditStreamName       = "TUTTI_AUDIT"
	defaultAuditStreamSubjects   = "tutti.audit.>,tutti.aaa.audit.>"
	defaultAuditStreamDuplicates = 20 * time.Minute
	// defaultAuditSpoolMaxBytes bounds a node's audit spool (256 MiB).
	defaultAuditSpoolMaxBytes = 256 << 20
	defaultStatusInterval     = 30 * time.Second
	defaultNATSPort           = 4222
	defaultBrokerListen       = "::"
	defaultBrokerClientPort   = 4222
	defaultVHost              = "mcollective"
	defaultSTOMPPort          = 61613
	defaultInitialReconnect   = 10 * time.Millisecond
	defaultMaxReconnect       = 30 * time.Second
	defaultBackOff            = 2.0
	defaultConnectTimeout     = 30 * time.Second
	defaultRootSSLDir         = "/etc/puppetlabs/puppet/ssl"
	defaultUserSSLDir         = "~/.puppetlabs/etc/puppet/ssl"

	defaultServerConfig = "/etc/choria/server.conf"
	defaultBrokerConfig = "/etc/choria/broker.conf"
)

// Default regex lists (CONFIG.md §4.1).
func defaultCertnameAllow() []string { return []string{`\.mcollective$`, `\.choria$`} }
func defaultPrivileged() []string {
	return []string{`\.privileged.mcollective$`, `\.privileged.choria$`}
}

// clientConfigPaths is the client search list of CONFIG.md §1, first that
// exists wins. Entries starting with ~ are expanded by the caller.
func clientConfigPaths() []string {
	return []string{
		"~/.choriarc",
		"~/.mcollective",
		"/etc/choria/client.conf",
		"/usr/local/etc/choria/client.conf",
		"/etc/puppetlabs/mcollective/client.cfg",
	}
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
