package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// clearEnv unsets the environment overrides so the host's do not leak in.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, v := range []string{
		"MCOLLECTIVE_NATS_USERNAME", "MCOLLECTIVE_NATS_PASSWORD", "MCOLLECTIVE_NATS_CREDENTIALS",
		"CHORIA_SRV_DOMAIN", "STOMP_USER", "STOMP_PASSWORD", "MCOLLECTIVE_CERTNAME",
		"MCOLLECTIVE_ACTIVEMQ_POOL1_SSL_CERT", "MCOLLECTIVE_ACTIVEMQ_POOL1_SSL_KEY",
	} {
		t.Setenv(v, "")
	}
}

func TestServerDefaults(t *testing.T) {
	clearEnv(t)
	s, err := ServerFrom(mustParse(t, "identity = node1.example.net\n"))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"identity", s.Identity, "node1.example.net"},
		{"collectives", s.Collectives, []string{"mcollective"}},
		{"main collective", s.MainCollective, "mcollective"},
		{"connector", s.Connector, "nats"},
		{"provider", s.Security.Provider, "file"},
		{"certname allow", s.Security.CertnameAllow, []string{`\.mcollective$`, `\.choria$`}},
		{"privileged", s.Security.Privileged, []string{`\.privileged.mcollective$`, `\.privileged.choria$`}},
		{"max ttl", s.Security.MaxTTL, time.Hour},
		{"replay cache", s.Security.ReplayCache, true},
		{"strict reply-to", s.Security.StrictReplyTo, true},
		{"use srv", s.NATS.UseSRV, true},
		{"authz", s.Authorization.Enabled, true},
		{"authz provider", s.Authorization.Provider, "action_policy"},
		{"default name", s.Authorization.DefaultName, "default"},
		{"policy dir", s.Authorization.PolicyDir, "/etc/tutti/policies"},
		{"audit", s.Audit.Enabled, false},
		{"audit provider", s.Audit.Provider, "choria"},
		{"audit mode", s.Audit.Mode, os.FileMode(0o600)},
		{"audit fails closed", s.Audit.Required, true},
		{"audit stream off", s.Audit.Stream, false},
		{"audit spool bound", s.Audit.SpoolMaxBytes, int64(256 << 20)},
		{"classes", s.Facts.ClassesFile, "/opt/puppetlabs/puppet/cache/state/classes.txt"},
		{"register interval", s.RegisterInterval, 300 * time.Second},
		{"splay", s.RegistrationSplay, true},
		{"registration collective", s.RegistrationCollective, "mcollective"},
		{"soft shutdown", s.SoftShutdownTimeout, 2 * time.Second},
		{"stats address", s.StatsAddress, "127.0.0.1"},
		{"status interval", s.StatusInterval, 30 * time.Second},
		{"logfile", s.Logging.File, "stdout"},
		{"loglevel", s.Logging.Level, "info"},
		{"log format", s.Logging.Format, "text"},
		{"max message", s.MaxMessageSize, 4 << 20},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !equal(c.got, c.want) {
				t.Errorf("got %#v, want %#v", c.got, c.want)
			}
		})
	}
}

func equal(a, b any) bool {
	if as, ok := a.([]string); ok {
		bs, _ := b.([]string)
		return slices.Equal(as, bs)
	}
	return a == b
}

func TestDefaultIdentity(t *testing.T) {
	s, err := ServerFrom(mustParse(t, ""))
	if err != nil {
		t.Skipf("host name is not a valid identity here: %v", err)
	}
	h, _ := os.Hostname()
	if s.Identity != strings.TrimSuffix(h, ".") {
		t.Errorf("Identity = %q, host name %q", s.Identity, h)
	}
}

func TestClientDefaults(t *testing.T) {
	clearEnv(t)
	c, err := ClientFrom(mustParse(t, "identity = me\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.TTL != 60*time.Second || c.DiscoveryTimeout != 2*time.Second || !c.DirectAddressing ||
		c.DirectAddressingThreshold != 10 || c.RPCLimitMethod != "first" || c.CallerKind != "choria" ||
		c.DiscoveryMethod != "mc" || c.RequestSigner.URL != "" || c.AnonTLS {
		t.Errorf("client defaults wrong: %+v", c)
	}
	if !c.Security.RequireSignedReplies || c.Security.ChoriaServers {
		t.Errorf("signed replies must be required and choria_servers off by default: %+v", c.Security)
	}
}

// The reply and signing rules for fleets with Choria servers, and what
// the client warns about them.
func TestClientChoriaServers(t *testing.T) {
	clearEnv(t)
	cases := []struct {
		text              string
		require, choria   bool
		warnKey, warnText string
	}{
		{"plugin.tutti.choria_servers = 1\n", true, true, "plugin.tutti.choria_servers", "their replies will be refused"},
		{"plugin.tutti.choria_servers = 1\nplugin.tutti.require_signed_replies = 0\n", false, true,
			"plugin.tutti.require_signed_replies", "unsigned replies are accepted"},
		{"plugin.tutti.require_signed_replies = false\n", false, false, "plugin.tutti.require_signed_replies", "can answer for a node"},
		{"plugin.tutti.choria_servers = 1\nplugin.tutti.require_signed_replies = 1\n", true, true, "", ""},
	}
	for _, c := range cases {
		f := mustParse(t, "identity = me\n"+c.text)
		cl, err := ClientFrom(f)
		if err != nil {
			t.Fatal(err)
		}
		if cl.Security.RequireSignedReplies != c.require || cl.Security.ChoriaServers != c.choria {
			t.Errorf("%q: %+v", c.text, cl.Security)
		}
		if c.warnKey == "" {
			if len(f.Warnings()) != 0 {
				t.Errorf("%q: unexpected warnings %v", c.text, f.Warnings())
			}
		} else if !hasWarning(f, c.warnKey, c.warnText) {
			t.Errorf("%q: no warning %s %q: %v", c.text, c.warnKey, c.warnText, f.Warnings())
		}
	}
}

func TestBrokerDefaults(t *testing.T) {
	clearEnv(t)
	b, err := BrokerFrom(mustParse(t, "identity = broker1\nplugin.choria.network.peers = b2:5222, nats://b3:5222\n"))
	if err != nil {
		t.Fatal(err)
	}
	if b.ListenAddress != "::" || b.ClientPort != 4222 || b.PeerPort != 0 ||
		!slices.Equal(b.Peers, []string{"nats://b2:5222", "nats://b3:5222"}) {
		t.Errorf("broker: %+v", b)
	}
}

func TestAuditStreamKeys(t *testing.T) {
	clearEnv(t)
	b, err := BrokerFrom(mustParse(t, "identity = broker1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if a := b.AuditStream; !a.Enabled || a.Name != "TUTTI_AUDIT" || a.Replicas != 1 || a.Duplicates != 20*time.Minute ||
		!slices.Equal(a.Subjects, []string{"tutti.audit.>", "tutti.aaa.audit.>"}) {
		t.Errorf("audit stream defaults: %+v", a)
	}
	for _, tc := range []struct{ role, text, key string }{
		{"broker", "plugin.tutti.broker.audit_stream.name = A.B\n", "audit_stream.name"},
		{"broker", "plugin.tutti.broker.audit_stream.replicas = 7\n", "audit_stream.replicas"},
		{"server", "plugin.tutti.audit.required = true\n", "plugin.tutti.audit.required"},
		{"server", "plugin.tutti.audit.stream = true\n", "plugin.tutti.audit.stream"},
		{"server", "rpcaudit = 1\nplugin.rpcaudit.logfile = a\nplugin.tutti.audit.spool_max_bytes = 10\n", "spool_max_bytes"},
	} {
		var err error
		if tc.role == "broker" {
			_, err = BrokerFrom(mustParse(t, "identity = b\n"+tc.text))
		} else {
			_, err = ServerFrom(mustParse(t, "identity = n\n"+tc.text))
		}
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s accepted or wrong reason: %v", strings.TrimSpace(tc.text), err)
		}
	}
}

func TestServerValues(t *testing.T) {
	clearEnv(t)
	text := `
identity = node1
collectives = mcollective , uk
main_collective = uk
plugin.choria.middleware_hosts = b1:4222, nats://b2:4223 ,tls://b3:4443
plugin.security.file.certificate = pki/node1.pem
plugin.security.file.key = /abs/node1.key
plugin.security.file.ca = ~/ca.pem
plugin.tutti.max_ttl = 2h
plugin.tutti.replay_cache = no
rpcaudit = 1
plugin.rpcaudit.logfile = audit.log
plugin.rpcaudit.logfile.mode = 0640
rpcauditprovider = logfile
plugin.yaml = facts.yaml:/etc/extra.json
libdir = /usr/lib/tutti:lib
plugin.choria.agent_provider.mcorpc.libdir = lib
registerinterval = 10
soft_shutdown_timeout = 1500ms
logfile = /var/log/tutti.log
plugin.choria.stats_port = 8222
plugin.tutti.metrics_port = 9100
`
	t.Setenv("HOME", "/home/u")
	s, err := ServerFrom(mustParse(t, text))
	if err != nil {
		t.Fatal(err)
	}
	d := "/etc/tutti"
	checks := []struct {
		name      string
		got, want any
	}{
		{"collectives trimmed", s.Collectives, []string{"mcollective", "uk"}},
		{"main", s.MainCollective, "uk"},
		{"hosts normalised", s.NATS.Hosts, []string{"nats://b1:4222", "nats://b2:4223", "tls://b3:4443"}},
		{"relative cert", s.Security.CertFile, d + "/pki/node1.pem"},
		{"absolute key", s.Security.KeyFile, "/abs/node1.key"},
		{"home ca", s.Security.CAFile, "/home/u/ca.pem"},
		{"max ttl", s.Security.MaxTTL, 2 * time.Hour},
		{"replay off", s.Security.ReplayCache, false},
		{"audit file", s.Audit.LogFile, d + "/audit.log"},
		{"audit mode", s.Audit.Mode, os.FileMode(0o640)},
		{"audit provider", s.Audit.Provider, "logfile"},
		{"audit spool beside the file", s.Audit.SpoolDir, d + "/audit.log.spool"},
		{"facts", s.Facts.Files, []string{d + "/facts.yaml", "/etc/extra.json"}},
		{"libdirs deduped", s.LibDirs, []string{"/usr/lib/tutti", d + "/lib"}},
		{"register seconds", s.RegisterInterval, 10 * time.Second},
		{"soft shutdown go syntax", s.SoftShutdownTimeout, 1500 * time.Millisecond},
		{"log file", s.Logging.File, "/var/log/tutti.log"},
		{"json for files", s.Logging.Format, "json"},
		{"metrics port wins", s.StatsPort, 9100},
		{"registration collective follows main", s.RegistrationCollective, "uk"},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !equal(c.got, c.want) {
				t.Errorf("got %#v, want %#v", c.got, c.want)
			}
		})
	}
}

func TestBuilderErrors(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name, role, text, key string
		sentinel              error
	}{
		{"bad identity", "server", "identity = bad/name", "identity", ErrInvalidValue},
		{"identity with space", "client", "identity = a b", "identity", ErrInvalidValue},
		{"bad collective", "server", "identity = a\ncollectives = a.b", "collectives", ErrInvalidValue},
		{"main not in collectives", "client", "identity = a\ncollectives = x\nmain_collective = y", "main_collective", ErrInvalidValue},
		{"zero ttl", "client", "identity = a\nttl = 0", "ttl", ErrInvalidValue},
		{"zero discovery", "client", "identity = a\ndiscovery_timeout = 0s", "discovery_timeout", ErrInvalidValue},
		{"zero max ttl", "server", "identity = a\nplugin.tutti.max_ttl = 0", "plugin.tutti.max_ttl", ErrInvalidValue},
		{"bad nats host", "server", "identity = a\nplugin.choria.middleware_hosts = http://x:1", "plugin.choria.middleware_hosts", ErrInvalidValue},
		{"audit without file", "server", "identity = a\nrpcaudit = 1", "plugin.rpcaudit.logfile", ErrInvalidValue},
		{"audit required but off", "server", "identity = a\nplugin.tutti.audit.required = 1", "plugin.tutti.audit.required", ErrInvalidValue},
		{"other authz provider", "server", "identity = a\nrpcauthprovider = rego_policy", "rpcauthprovider", ErrUnsupported},
		{"server anon tls", "server", "identity = a\nplugin.security.server_anon_tls = 1", "plugin.security.server_anon_tls", ErrUnsupported},
		{"bad default policy name", "server", "identity = a\nplugin.actionpolicy.default_name = ../x", "plugin.actionpolicy.default_name", ErrInvalidValue},
		{"bad regex", "server", "identity = a\nplugin.choria.security.certname_whitelist = (", "plugin.choria.security.certname_whitelist", ErrInvalidValue},
		{"anon tls without signer", "client", "identity = a\nplugin.security.client_anon_tls = 1", "plugin.security.client_anon_tls", ErrInvalidValue},
		{"signer url not http", "client", "identity = a\nplugin.choria.security.request_signer.url = ftp://x/", "plugin.choria.security.request_signer.url", ErrInvalidValue},
		{"stomp without pool", "server", "identity = a\nconnector = activemq", "plugin.activemq.pool.size", ErrInvalidValue},
		{"stomp host missing", "server", "identity = a\nconnector = activemq\nplugin.activemq.pool.size = 2\nplugin.activemq.pool.1.host = m", "plugin.activemq.pool.2.host", ErrInvalidValue},
		{"short heartbeat", "server", "identity = a\nconnector = activemq\nplugin.activemq.pool.size = 1\nplugin.activemq.pool.1.host = m\nplugin.activemq.heartbeat_interval = 5", "plugin.activemq.heartbeat_interval", ErrInvalidValue},
		{"broker port zero", "broker", "identity = a\nplugin.choria.network.client_port = 0", "plugin.choria.network.client_port", ErrInvalidValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustParse(t, tt.text)
			var err error
			switch tt.role {
			case "server":
				_, err = ServerFrom(f)
			case "client":
				_, err = ClientFrom(f)
			case "broker":
				_, err = BrokerFrom(f)
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.Key != tt.key || !errors.Is(err, tt.sentinel) {
				t.Fatalf("err = %v; want %v for key %s", err, tt.sentinel, tt.key)
			}
			if ce.File != "/etc/tutti/test.conf" {
				t.Errorf("error file = %q", ce.File)
			}
		})
	}
	t.Run("error names the line", func(t *testing.T) {
		_, err := ServerFrom(mustParse(t, "# x\nidentity = bad/name\n"))
		if err == nil || !strings.HasPrefix(err.Error(), "/etc/tutti/test.conf:2: identity:") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestSTOMP(t *testing.T) {
	clearEnv(t)
	text := `identity = a
connector = activemq
plugin.activemq.pool.size = 2
plugin.activemq.pool.1.host = mq1
plugin.activemq.pool.1.user = mco
plugin.activemq.pool.1.password = file-secret
plugin.activemq.pool.1.ssl = 1
plugin.activemq.pool.1.ssl.ca = ssl/ca.pem
plugin.activemq.pool.2.host = mq2
plugin.activemq.pool.2.port = 61614
plugin.activemq.initial_reconnect_delay = 0.5
plugin.activemq.use_exponential_back_off = 0
plugin.activemq.heartbeat_interval = 30
`
	t.Setenv("STOMP_PASSWORD", "env-secret")
	t.Setenv("MCOLLECTIVE_ACTIVEMQ_POOL1_SSL_CERT", "/env/cert.pem")
	s, err := ServerFrom(mustParse(t, text))
	if err != nil {
		t.Fatal(err)
	}
	a := s.ActiveMQ
	want := []STOMPBroker{
		{Host: "mq1", Port: 61613, User: "mco", Password: "env-secret", SSL: true, SSLCA: "/etc/tutti/ssl/ca.pem", SSLCert: "/env/cert.pem"},
		{Host: "mq2", Port: 61614, Password: "env-secret"},
	}
	if !slices.Equal(a.Pool, want) {
		t.Errorf("pool = %+v\nwant %+v", a.Pool, want)
	}
	if a.VHost != "mcollective" || a.InitialReconnectDelay != 500*time.Millisecond || a.MaxReconnectDelay != 30*time.Second ||
		a.BackOffMultiplier != 1 || a.HeartbeatInterval != 30*time.Second || a.ConnectTimeout != 30*time.Second {
		t.Errorf("activemq = %+v", a)
	}
}

func TestNATSEnv(t *testing.T) {
	clearEnv(t)
	t.Setenv("MCOLLECTIVE_NATS_USERNAME", "envuser")
	t.Setenv("MCOLLECTIVE_NATS_PASSWORD", "envpass")
	s, err := ServerFrom(mustParse(t, "identity = a\nplugin.nats.user = fileuser\nplugin.nats.pass = filepass\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.NATS.User != "envuser" || s.NATS.Pass != "envpass" {
		t.Errorf("nats = %+v; env must win", s.NATS)
	}
}

func TestPuppetProvider(t *testing.T) {
	clearEnv(t)
	text := "identity = node1.example.net\nplugin.security.provider = puppet\nplugin.choria.ssldir = /ssl\nplugin.security.file.ca = /ignored.pem\n"
	f := mustParse(t, text)
	s, err := ServerFrom(f)
	if err != nil {
		t.Fatal(err)
	}
	sec := s.Security
	if sec.CertFile != "/ssl/certs/node1.example.net.pem" || sec.KeyFile != "/ssl/private_keys/node1.example.net.pem" || sec.CAFile != "/ssl/certs/ca.pem" {
		t.Errorf("security = %+v", sec)
	}
	if !hasWarning(f, "plugin.security.file.ca", "ignored with plugin.security.provider = puppet") {
		t.Errorf("no warning for the ignored file key: %v", f.Warnings())
	}
	t.Setenv("MCOLLECTIVE_CERTNAME", "alice.mcollective")
	c, err := ClientFrom(mustParse(t, text))
	if err != nil {
		t.Fatal(err)
	}
	if c.Security.CertFile != "/ssl/certs/alice.mcollective.pem" {
		t.Errorf("client cert = %q, want the client certname", c.Security.CertFile)
	}
}

func hasWarning(f *File, key, contains string) bool {
	for _, w := range f.Warnings() {
		if w.Key == key && strings.Contains(w.Message, contains) {
			return true
		}
	}
	return false
}

func TestClientValues(t *testing.T) {
	clearEnv(t)
	t.Setenv("HOME", "/home/u")
	text := `identity = me
ttl = 2m
discovery_timeout = 5
rpclimitmethod = random
plugin.choria.security.request_signer.url = https://signer:8080/choria/v1/sign
choria.security.request_signer.token_file = ~/.choria/token.jwt
plugin.choria.security.request_signer.force = 1
plugin.tutti.request_signer.ca = signer-ca.pem
plugin.security.client_anon_tls = 1
plugin.login.aaasvc.login.url = https://l1/login, https://l2/login
plugin.choria.network.client_port = 4222
`
	f := mustParse(t, text)
	c, err := ClientFrom(f)
	if err != nil {
		t.Fatal(err)
	}
	rs := c.RequestSigner
	if rs.URL != "https://signer:8080/choria/v1/sign" || rs.TokenFile != "/home/u/.choria/token.jwt" ||
		rs.SeedFile != "/home/u/.choria/token.key" || !rs.Force || rs.CA != "/etc/tutti/signer-ca.pem" {
		t.Errorf("signer = %+v", rs)
	}
	if c.TTL != 2*time.Minute || c.DiscoveryTimeout != 5*time.Second || c.RPCLimitMethod != "random" || !c.AnonTLS {
		t.Errorf("client = %+v", c)
	}
	if !slices.Equal(c.LoginURLs, []string{"https://l1/login", "https://l2/login"}) {
		t.Errorf("login urls = %q", c.LoginURLs)
	}
	if !hasWarning(f, "plugin.choria.network.client_port", "ignored by the client") {
		t.Errorf("no broker-key warning: %v", f.Warnings())
	}
	if !hasWarning(f, "plugin.security.client_anon_tls", "not verified") {
		t.Errorf("no anon TLS warning: %v", f.Warnings())
	}
	f.Set("ttl", "10")
	if _, err := ClientFrom(f); err != nil || !hasWarning(f, "ttl", "below 30 seconds") {
		t.Errorf("short ttl: err %v, warnings %v", err, f.Warnings())
	}
}

func TestSeedFileFor(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"/h/.choria/token.jwt", "/h/.choria/token.key"},
		{"/h/.choria_token", "/h/.choria_token.key"},
		{"/h/token", "/h/token.key"},
		{"/h/a.b/token", "/h/a.b/token.key"},
	}
	for _, tt := range tests {
		if got := seedFileFor(tt.in); got != tt.want {
			t.Errorf("seedFileFor(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestClientCertName(t *testing.T) {
	c := &Client{Common: Common{Identity: "host1"}}
	t.Setenv("MCOLLECTIVE_CERTNAME", "bob.mcollective")
	if got := ClientCertName(c); got != "bob.mcollective" {
		t.Errorf("env: %q", got)
	}
	t.Setenv("MCOLLECTIVE_CERTNAME", "")
	t.Setenv("USER", "carol")
	want := "carol.mcollective"
	if os.Geteuid() == 0 {
		want = "host1"
	}
	if got := ClientCertName(c); got != want {
		t.Errorf("ClientCertName = %q, want %q", got, want)
	}
}

func TestLoad(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	t.Setenv("HOME", dir)

	t.Run("explicit missing is ErrNoConfig", func(t *testing.T) {
		for name, load := range map[string]func(string) error{
			"server": func(p string) error { _, _, err := LoadServer(p); return err },
			"client": func(p string) error { _, _, err := LoadClient(p); return err },
			"broker": func(p string) error { _, _, err := LoadBroker(p); return err },
		} {
			if err := load(filepath.Join(dir, "missing.conf")); !errors.Is(err, ErrNoConfig) {
				t.Errorf("%s: err = %v, want ErrNoConfig", name, err)
			}
		}
	})
	t.Run("nothing found names the files searched", func(t *testing.T) {
		for role, tc := range map[string]struct {
			paths []string
			load  func() error
		}{
			"client": {ClientConfigPaths(), func() error { _, _, err := LoadClient(""); return err }},
			"node":   {ServerConfigPaths(), func() error { _, _, err := LoadServer(""); return err }},
			"broker": {BrokerConfigPaths(), func() error { _, _, err := LoadBroker(""); return err }},
		} {
			for _, p := range tc.paths {
				if _, err := os.Stat(expandHome(p)); err == nil {
					t.Skipf("%s exists", p)
				}
			}
			err := tc.load()
			var nf *NotFoundError
			if !errors.As(err, &nf) || !errors.Is(err, ErrNoConfig) || nf.Role != role || len(nf.Searched) != len(tc.paths) {
				t.Fatalf("%s: err = %v", role, err)
			}
			for _, want := range []string{"/etc/tutti/", "/etc/choria/", "--config FILE"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%s: %q does not name %s", role, err, want)
				}
			}
		}
		if got := ClientConfigPaths(); !slices.Equal(got[:4], []string{"~/.choriarc", "~/.mcollective", "/etc/tutti/client.conf", "/etc/choria/client.conf"}) {
			t.Errorf("client search order = %v", got)
		}
	})
	t.Run("client finds ~/.choriarc", func(t *testing.T) {
		writeFile(t, filepath.Join(dir, ".choriarc"), "identity = rc\n")
		c, f, err := LoadClient("")
		if err != nil || c.Identity != "rc" || f.Path != filepath.Join(dir, ".choriarc") {
			t.Fatalf("LoadClient = %+v, %v", c, err)
		}
	})
	t.Run("invalid returns the file for warnings", func(t *testing.T) {
		p := filepath.Join(dir, "server.conf")
		writeFile(t, p, "identity = a\nkeeplogs = 2\nrpcaudit = 1\n")
		s, f, err := LoadServer(p)
		if s != nil || f == nil || !errors.Is(err, ErrInvalidValue) || errors.Is(err, ErrNoConfig) {
			t.Fatalf("LoadServer = %v, %v, %v", s, f, err)
		}
		if len(f.Warnings()) != 1 {
			t.Errorf("warnings = %v", f.Warnings())
		}
	})
	t.Run("broker", func(t *testing.T) {
		p := filepath.Join(dir, "broker.conf")
		writeFile(t, p, "identity = b\nplugin.choria.network.client_port = 4333\nplugin.choria.network.stream.store = js\n")
		b, _, err := LoadBroker(p)
		if err != nil || b.ClientPort != 4333 || b.StreamStore != filepath.Join(dir, "js") {
			t.Fatalf("LoadBroker = %+v, %v", b, err)
		}
	})
}
