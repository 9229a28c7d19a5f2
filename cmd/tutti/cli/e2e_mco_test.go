package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	stdx509 "crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/cmd/tutti/internal/demo"
	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/connector/stomp/amqtest"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server/daemon"
)

// requireMCOEnv, when "1", turns "mco is not installed" from a skip into
// a failure (CI installs it with scripts/mcollective/install).
const requireMCOEnv = "TUTTI_REQUIRE_MCOLLECTIVE"

func needMCO(t *testing.T) string {
	t.Helper()
	mco, err := exec.LookPath("mco")
	if err != nil {
		if os.Getenv(requireMCOEnv) == "1" {
			t.Fatalf("%s=1 but mco is not installed: %v", requireMCOEnv, err)
		}
		t.Skipf("skipping: MCollective's mco is not installed (run scripts/mcollective/install; set %s=1 to fail instead)", requireMCOEnv)
	}
	return mco
}

func writeRSA(t *testing.T, dir, name string) (private, public string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := stdx509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	private, public = filepath.Join(dir, "private", name+".pem"), filepath.Join(dir, "public", name+".pem")
	if err := writeFile(private, string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: stdx509.MarshalPKCS1PrivateKey(k)})), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(public, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), 0o644); err != nil {
		t.Fatal(err)
	}
	return private, public
}

// mcoSite is tuttid nodes in MCollective mode on the package's ActiveMQ,
// and an mco client configuration for them.
type mcoSite struct {
	dir, clientCfg string
	nodeLog        *demo.LogBuffer
	// last is when the previous mco run ended: identical requests in
	// the same second have the same signed body, and a node refuses the
	// second as a replay (docs/mcollective.md), so runs are a second apart.
	last time.Time
}

// brokerLines is the activemq pool of a node or client: plain STOMP with
// a login, or STOMP+SSL with a client certificate too.
func brokerLines(b *amqtest.Broker, tlsDir, name, user, pass string, useTLS bool) string {
	s := fmt.Sprintf("connector = activemq\nplugin.activemq.pool.size = 1\nplugin.activemq.pool.1.host = %s\n"+
		"plugin.activemq.pool.1.user = %s\nplugin.activemq.pool.1.password = %s\n", b.Host, user, pass)
	if !useTLS {
		return s + fmt.Sprintf("plugin.activemq.pool.1.port = %d\nplugin.activemq.pool.1.ssl = 0\n", b.Port)
	}
	return s + fmt.Sprintf("plugin.activemq.pool.1.port = %d\nplugin.activemq.pool.1.ssl = 1\n"+
		"plugin.activemq.pool.1.ssl.ca = %[2]s/ca.pem\nplugin.activemq.pool.1.ssl.cert = %[2]s/%[3]s.pem\n"+
		"plugin.activemq.pool.1.ssl.key = %[2]s/%[3]s.key\n", b.SSLPort, tlsDir, name)
}

// startMCOSite starts the site's nodes in collective (sites running side
// by side on one broker must not share one: directed requests go to a
// queue, where one consumer gets each message).
func startMCOSite(t *testing.T, b *amqtest.Broker, collective, serializer string, useTLS bool, nodes int) *mcoSite {
	t.Helper()
	dir := t.TempDir()
	tlsDir := filepath.Join(dir, "tls")
	if err := writeFile(filepath.Join(tlsDir, x509.CAFile), string(b.PKI.CA.CertPEM), 0o644); err != nil {
		t.Fatal(err)
	}
	issue := func(name string) {
		is, err := b.PKI.CA.Issue(name, x509.IssueOptions{KeyType: x509.KeyRSA})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := is.WriteFiles(tlsDir); err != nil {
			t.Fatal(err)
		}
	}
	serverPriv, serverPub := writeRSA(t, dir, "server")
	alicePriv, alicePub := writeRSA(t, dir, "alice")
	_, _ = writeRSA(t, dir, "mallory") // a key pair whose public half no node has
	callers := filepath.Join(dir, "callers")
	if err := os.MkdirAll(callers, 0o755); err != nil {
		t.Fatal(err)
	}
	pubPEM, _ := os.ReadFile(alicePub)
	if err := writeFile(filepath.Join(callers, "alice.pem"), string(pubPEM), 0o644); err != nil {
		t.Fatal(err)
	}
	policy := "policy default deny\nallow\tcert=alice\tping inventory get_fact agent_inventory\t*\t*\n"
	if err := writeFile(filepath.Join(dir, "policies", "rpcutil.policy"), policy, 0o644); err != nil {
		t.Fatal(err)
	}
	site := &mcoSite{dir: dir, nodeLog: &demo.LogBuffer{}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := 1; i <= nodes; i++ {
		name := fmt.Sprintf("mco%d.example.net", i)
		role := map[bool]string{true: "web", false: "db"}[i == 1]
		if err := writeFile(filepath.Join(dir, name+".facts.yaml"), "role: "+role+"\ncountry: mt\n", 0o644); err != nil {
			t.Fatal(err)
		}
		if err := writeFile(filepath.Join(dir, name+".classes"), "base\nrole::"+role+"\n", 0o644); err != nil {
			t.Fatal(err)
		}
		issue(name)
		conf := filepath.Join(dir, name+".conf")
		text := "identity = " + name + "\ncollectives = " + collective + "\nlogfile = discard\n" +
			brokerLines(b, tlsDir, name, amqtest.NodeUser, b.NodePassword, useTLS) +
			"plugin.activemq.max_reconnect_delay = 1\nsecurityprovider = ssl\nplugin.ssl_serializer = " + serializer + "\n" +
			"plugin.ssl_server_private = " + serverPriv + "\nplugin.ssl_client_cert_dir = " + callers + "\n" +
			"plugin.yaml = " + name + ".facts.yaml\nclassesfile = " + name + ".classes\n" +
			"rpcauthorization = 1\nrpcauthprovider = action_policy\nplugin.tutti.policy_dir = policies\n" +
			"rpcaudit = 1\nplugin.rpcaudit.logfile = audit-" + name + ".log\n"
		if err := writeFile(conf, text, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, file, err := config.LoadServer(conf)
		if err != nil {
			t.Fatal(err)
		}
		nl := logrus.New()
		nl.SetOutput(site.nodeLog)
		nl.SetFormatter(&logrus.TextFormatter{DisableTimestamp: true, DisableColors: true})
		node, err := daemon.BuildNode(ctx, cfg, file, logrus.NewEntry(nl).WithField("node", name))
		if err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		t.Cleanup(func() { node.Shutdown(context.Background()) })
	}
	issue("mco-client")
	site.clientCfg = filepath.Join(dir, "client.cfg")
	client := "main_collective = " + collective + "\ncollectives = " + collective + "\nlibdir = /usr/share/mcollective/plugins\n" +
		"logger_type = console\nloglevel = warn\nidentity = mco-client\n" +
		brokerLines(b, tlsDir, "mco-client", amqtest.ClientUser, b.ClientPassword, useTLS) +
		"securityprovider = ssl\nplugin.ssl_serializer = " + serializer + "\n" +
		"plugin.ssl_server_public = " + serverPub + "\nplugin.ssl_client_private = " + alicePriv + "\n" +
		"plugin.ssl_client_public = " + alicePub + "\ndirect_addressing = 1\n"
	if err := writeFile(site.clientCfg, client, 0o644); err != nil {
		t.Fatal(err)
	}
	return site
}

// mco runs MCollective's client with the site's configuration.
func (s *mcoSite) mco(t *testing.T, args ...string) (string, error) {
	t.Helper()
	time.Sleep(time.Until(s.last.Add(1100 * time.Millisecond)))
	defer func() { s.last = time.Now() }()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "mco", append(args, "--config", s.clientCfg)...)
	cmd.Dir = s.dir
	for _, e := range os.Environ() { // the config's key files, not the caller's environment
		if !strings.HasPrefix(e, "MCOLLECTIVE_SSL_") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// mcoJSON runs mco rpc … -j and returns the replies by sender.
func (s *mcoSite) mcoJSON(t *testing.T, args ...string) map[string]map[string]any {
	t.Helper()
	out, err := s.mco(t, append(append([]string{"rpc"}, args...), "-j", "--dt", "2")...)
	if err != nil && !strings.HasPrefix(strings.TrimSpace(out), "[") {
		t.Fatalf("mco rpc %v: %v\n%s\nnode log:\n%s", args, err, out, strings.Join(s.nodeLog.Lines(""), "\n"))
	}
	var replies []map[string]any
	if err := json.Unmarshal([]byte(out[strings.Index(out, "["):]), &replies); err != nil {
		t.Fatalf("mco rpc %v: %v\n%s", args, err, out)
	}
	by := map[string]map[string]any{}
	for _, r := range replies {
		by[fmt.Sprint(r["sender"])] = r
	}
	return by
}

// TestMCOClientAgainstTuttid: Debian's mco 2.12.5 drives tuttid nodes in
// MCollective mode over ActiveMQ, plain STOMP and STOMP+SSL, with the
// Marshal and YAML serializers.
func TestMCOClientAgainstTuttid(t *testing.T) {
	needMCO(t)
	b := amq.Broker(t)
	for _, c := range []struct {
		name, serializer string
		tls              bool
	}{{"plain-marshal", "marshal", false}, {"tls-yaml", "yaml", true}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := startMCOSite(t, b, "mco"+strings.ReplaceAll(c.name, "-", ""), c.serializer, c.tls, 2)
			var out string
			for deadline := time.Now().Add(30 * time.Second); ; {
				out, _ = s.mco(t, "ping", "--dt", "2")
				if strings.Contains(out, "mco1.example.net") && strings.Contains(out, "mco2.example.net") || time.Now().After(deadline) {
					break
				}
			}
			if !strings.Contains(out, "mco1.example.net") || !strings.Contains(out, "mco2.example.net") {
				t.Fatalf("mco ping:\n%s\nnode log:\n%s", out, strings.Join(s.nodeLog.Lines(""), "\n"))
			}
			r := s.mcoJSON(t, "rpcutil", "ping")
			if len(r) != 2 || fmt.Sprint(r["mco1.example.net"]["statuscode"]) != "0" {
				t.Fatalf("rpcutil ping: %v", r)
			}
			for _, f := range [][]string{{"-F", "role=web"}, {"-C", "role::web"}, {"-I", "mco1.example.net"}, {"-I", "/mco1/"},
				{"--with-agent", "rpcutil", "-F", "role=web"}, {"-S", "role=web and country=mt"}, {"-S", "not role=db"}} {
				r := s.mcoJSON(t, append([]string{"rpcutil", "ping"}, f...)...)
				if len(r) != 1 || r["mco1.example.net"] == nil {
					t.Errorf("filter %v: replies from %v", f, keys(r))
				}
			}
			inv := s.mcoJSON(t, "rpcutil", "inventory", "-I", "mco2.example.net")
			data, _ := inv["mco2.example.net"]["data"].(map[string]any)
			if facts, _ := data["facts"].(map[string]any); facts["role"] != "db" {
				t.Fatalf("inventory: %v", inv)
			}
			denied := s.mcoJSON(t, "rpcutil", "daemon_stats", "-I", "mco1.example.net")
			if d := denied["mco1.example.net"]; d == nil || fmt.Sprint(d["statuscode"]) != "1" {
				t.Fatalf("daemon_stats should be denied: %v", denied)
			}
			audit, err := os.ReadFile(filepath.Join(s.dir, "audit-mco1.example.net.log"))
			if err != nil || !strings.Contains(string(audit), `"caller":"cert=alice"`) || !strings.Contains(string(audit), `"decision":"deny"`) {
				t.Fatalf("audit log (%v):\n%s", err, audit)
			}
		})
	}
}

func keys(m map[string]map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
