package signer

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// aaasvcJSON is an aaasvc config file as its docs show it (with port as
// an integer), tab-indented.
const aaasvcJSON = `{
	"logfile": "/var/log/aaasvc.log",
	"loglevel": "info",
	"choria_config": "/etc/aaasvc/choria.conf",
	"authenticator": "userlist",
	"authorizer": "actionlist",
	"auditors": ["logfile"],
	"signer": "basicjwt",
	"port": 8080,
	"monitor_port": 8081,
	"site": "london",
	"tls_certificate": "/etc/aaasvc/https/cert.pem",
	"tls_key": "/etc/aaasvc/https/key.pem",
	"basicjwt_signer": {"signing_certificate": "/etc/aaasvc/jwt.pem", "max_validity": "2h"},
	"userlist_authenticator": {"signing_key": "/etc/aaasvc/jwt.key", "validity": "1h", "users_file": "/etc/aaasvc/users.json"},
	"logfile_auditor": {"logfile": "/var/log/signer_audit.json"},
	"okta_authenticator": {}
}`

func TestParseConfig(t *testing.T) {
	c, warnings, err := ParseConfig([]byte(aaasvcJSON))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 8080 || c.Site != "london" || time.Duration(c.BasicJWT.MaxValidity) != 2*time.Hour ||
		c.Userlist.UsersFile != "/etc/aaasvc/users.json" || c.LogfileAuditor.Logfile != "/var/log/signer_audit.json" {
		t.Errorf("config %+v", c)
	}
	if time.Duration(c.MaxTTL) != DefaultMaxTTL || c.ListenAddress != "::" || time.Duration(c.ReadTimeout) != DefaultReadTimeout {
		t.Errorf("defaults not applied: %+v", c)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "okta_authenticator") {
		t.Errorf("warnings %v", warnings)
	}

	yamlDoc := "authenticator: userlist\nport: 8443\ninsecure_http: true\nmax_ttl: 600\nread_timeout: 3s\n" +
		"userlist_authenticator:\n  signing_key: k\n  users:\n    - {username: bob, password: x}\n"
	c, _, err = ParseConfig([]byte(yamlDoc))
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(c.MaxTTL) != 10*time.Minute || time.Duration(c.ReadTimeout) != 3*time.Second || len(c.Userlist.Users) != 1 {
		t.Errorf("config %+v", c)
	}
}

func TestConfigRefusals(t *testing.T) {
	base := "authenticator: userlist\nport: 8443\ninsecure_http: true\nuserlist_authenticator: {signing_key: k, users_file: u}\n"
	cases := []struct {
		name, doc, want string
	}{
		{"port as string", strings.Replace(base, "8443", `"8443x"`, 1), "cannot unmarshal"},
		{"no port", strings.Replace(base, "port: 8443\n", "", 1), "port must be"},
		{"no tls", strings.Replace(base, "insecure_http: true\n", "", 1), "tls_certificate and tls_key are required"},
		{"opa", base + "authorizer: opa\n", `authorizer "opa"`},
		{"signer without key material", base + "signer: basicjwt\nbasicjwt_signer: {signing_certificate: c, max_validity: 1h}\n", "privileged_certificate"},
		{"signer without max_validity", base + "signer: basicjwt\nprivileged_certificate: a\nprivileged_key: b\nprivileged_ca: c\nbasicjwt_signer: {signing_certificate: c}\n", "max_validity is required"},
		{"unknown auditor", base + "auditors: [syslog]\n", `auditor "syslog"`},
		{"jetstream without topic", base + "auditors: [jetstream]\njetstream_auditor: {servers: nats://x:4222}\n", "topic are required"},
		{"jetstream without spool", base + "auditors: [jetstream]\njetstream_auditor: {servers: nats://x:4222, topic: t}\n", "spool_dir is required"},
		{"jetstream negative spool", base + "auditors: [jetstream]\njetstream_auditor: {servers: nats://x:4222, topic: t, spool_dir: /s, spool_max_bytes: -1}\n", "spool_max_bytes"},
		{"nothing enabled", "port: 1\ninsecure_http: true\n", "nothing to serve"},
		{"tiny max_ttl", base + "max_ttl: 10s\n", "below the protocol minimum"},
		{"bad duration", base + "max_ttl: soon\n", "invalid duration"},
		{"users and users_file", strings.Replace(base, "users_file: u", "users_file: u, users: [{username: a, password: b}]", 1), "exactly one of users and users_file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseConfig([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig containing %q", err, tc.want)
			}
		})
	}
}

func TestAllowedAction(t *testing.T) {
	cases := []struct {
		agents        []string
		agent, action string
		ok            bool
	}{
		{[]string{"*"}, "puppet", "disable", true},
		{[]string{"rpcutil.*"}, "rpcutil", "ping", true},
		{[]string{"puppet.status"}, "puppet", "status", true},
		{[]string{"puppet.status"}, "puppet", "disable", false},
		{[]string{"rpcutil.*"}, "rpcutilx", "ping", false},
		{[]string{"rpcutil"}, "rpcutil", "ping", false},
		{[]string{"bad", "*"}, "rpcutil", "ping", false},
		{[]string{"*", "bad"}, "rpcutil", "ping", true},
		{nil, "rpcutil", "ping", false},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.agents, ",")+"/"+tc.agent+"."+tc.action, func(t *testing.T) {
			if err := AllowedAction(tc.agents, tc.agent, tc.action); (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestSanitizeCallerID(t *testing.T) {
	for in, want := range map[string]string{"up=bob": "up=bob", "up=bob.smith": "up=bob_smith", "up=bob@example.net": "up=bob_example_net"} {
		if got := SanitizeCallerID(in); got != want {
			t.Errorf("%s → %s, want %s", in, got, want)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(aaasvcJSON))
	f.Add([]byte("port: 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, _, err := ParseConfig(data)
		if err == nil && (c.Port == 0 || c.MaxTTL < Duration(30*time.Second)) {
			t.Fatalf("accepted an invalid config: %+v", c)
		}
	})
}

func FuzzDecodeRequestB64(f *testing.F) {
	f.Add("eyJwcm90b2NvbCI6\nImNob3JpYSJ9\n")
	f.Add("%%%")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := decodeRequestB64(s)
		if err == nil && len(b) > len(s) {
			t.Fatalf("decoded %d bytes from %d characters", len(b), len(s))
		}
	})
}

// TestInsecureHTTPWithCertificate: plain HTTP asked for while a TLS
// certificate is configured is refused, not silently ignored.
func TestInsecureHTTPWithCertificate(t *testing.T) {
	doc := "authenticator: userlist\nport: 8443\ninsecure_http: true\ntls_certificate: c.pem\ntls_key: c.key\n" +
		"userlist_authenticator: {signing_key: k, users_file: u}\n"
	_, _, err := ParseConfig([]byte(doc))
	if err == nil || !strings.Contains(err.Error(), "insecure_http (or run --insecure-http) asks for plain HTTP") {
		t.Fatalf("err = %v", err)
	}
}
