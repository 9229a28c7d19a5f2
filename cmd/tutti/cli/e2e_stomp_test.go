package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/cmd/tutti/internal/demo"
	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/connector/stomp/amqtest"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server/daemon"
)

// amq is the package's ActiveMQ for the STOMP end-to-end tests, started by
// the first test that needs it.
var amq amqtest.Shared

func TestMain(m *testing.M) {
	code := amq.Main(m)
	rmq.Stop()
	os.Exit(code)
}

// startSTOMPFleet runs n nodes on the package's ActiveMQ (connector =
// activemq, STOMP+SSL with client certificates, the node and client
// logins of the broker's authorization map) and returns the client
// config file.
func startSTOMPFleet(t testing.TB, b *amqtest.Broker, n int) (clientConf string, nodeLog *demo.LogBuffer) {
	t.Helper()
	return startSTOMPFleetPolicy(t, b, n, "")
}

// startSTOMPFleetPolicy is startSTOMPFleet with extra rpcutil policy lines.
func startSTOMPFleetPolicy(t testing.TB, b *amqtest.Broker, n int, extraPolicy string) (clientConf string, nodeLog *demo.LogBuffer) {
	t.Helper()
	clientConf, nodeLog, _ = startSTOMPNodes(t, b, n, extraPolicy)
	return clientConf, nodeLog
}

// startSTOMPNodes is startSTOMPFleetPolicy that also returns the nodes
// (node<i>.stomp.example.net, their configs and audit logs beside
// clientConf).
func startSTOMPNodes(t testing.TB, b *amqtest.Broker, n int, extraPolicy string) (clientConf string, nodeLog *demo.LogBuffer, nodes []*daemon.Node) {
	t.Helper()
	dir := t.TempDir()
	pki := filepath.Join(dir, "pki")
	if err := writeFile(filepath.Join(pki, x509.CAFile), string(b.PKI.CA.CertPEM), 0o644); err != nil {
		t.Fatal(err)
	}
	issue := func(name string) {
		is, err := b.PKI.CA.Issue(name, x509.IssueOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := is.WriteFiles(pki); err != nil {
			t.Fatal(err)
		}
	}
	common := func(name, user, pass string) string {
		return fmt.Sprintf("identity = %[1]s\nlogfile = discard\nplugin.security.provider = file\n"+
			"plugin.security.file.certificate = pki/%[1]s.pem\nplugin.security.file.key = pki/%[1]s.key\n"+
			"plugin.security.file.ca = pki/ca.pem\nconnector = activemq\nplugin.activemq.pool.size = 1\n"+
			"plugin.activemq.pool.1.host = %[2]s\nplugin.activemq.pool.1.port = %[3]d\nplugin.activemq.pool.1.ssl = 1\n"+
			"plugin.activemq.pool.1.user = %[4]s\nplugin.activemq.pool.1.password = %[5]s\n"+
			"plugin.activemq.max_reconnect_delay = 1\n", name, b.Host, b.SSLPort, user, pass)
	}
	policy := "policy default deny\nallow\tchoria=stomp.mcollective\t*\t*\t*\nallow\tchoria=guest.mcollective\tping\t*\t*\n" + extraPolicy
	if err := writeFile(filepath.Join(dir, "policies", "rpcutil.policy"), policy, 0o644); err != nil {
		t.Fatal(err)
	}
	nodeLog = &demo.LogBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("node%d.stomp.example.net", i)
		issue(name)
		conf := filepath.Join(dir, name+".conf")
		if err := writeFile(conf, common(name, amqtest.NodeUser, b.NodePassword)+"collectives = mcollective\n"+
			"rpcauthorization = 1\nrpcauthprovider = action_policy\nplugin.tutti.policy_dir = policies\n"+
			"rpcaudit = 1\nplugin.rpcaudit.logfile = audit-"+name+".log\n", 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, file, err := config.LoadServer(conf)
		if err != nil {
			t.Fatal(err)
		}
		nl := logrus.New()
		nl.SetOutput(nodeLog)
		nl.SetFormatter(&logrus.TextFormatter{DisableTimestamp: true, DisableColors: true})
		node, err := daemon.BuildNode(ctx, cfg, file, logrus.NewEntry(nl).WithField("node", name))
		if err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		t.Cleanup(func() { node.Shutdown(context.Background()) })
		nodes = append(nodes, node)
	}
	issue("stomp.mcollective")
	issue("guest.mcollective")
	clientConf = filepath.Join(dir, "client.conf")
	if err := writeFile(clientConf, common("stomp.mcollective", amqtest.ClientUser, b.ClientPassword), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(filepath.Join(dir, "guest.conf"), common("guest.mcollective", amqtest.ClientUser, b.ClientPassword), 0o644); err != nil {
		t.Fatal(err)
	}
	return clientConf, nodeLog, nodes
}

// pingAll pings until every node answered (nodes subscribe
// asynchronously after a restart) or the deadline passes.
func pingAll(t *testing.T, conf string, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		code, out, stderr := runCLI(t, "ping", "--config", conf, "--json", "--expect", fmt.Sprint(n))
		var ping struct {
			Replies []struct {
				Sender       string `json:"sender"`
				Verification string `json:"verification"`
			} `json:"replies"`
		}
		_ = json.Unmarshal([]byte(out), &ping)
		if code == ExitOK && len(ping.Replies) == n {
			for _, r := range ping.Replies {
				if r.Verification != "verified" || !strings.HasSuffix(r.Sender, ".stomp.example.net") {
					t.Fatalf("reply %+v", r)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ping over ActiveMQ: exit %d, %d of %d replies: %s %s", code, len(ping.Replies), n, out, stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestE2ESTOMPPingRPCAndBrokerRestart(t *testing.T) {
	b := amq.Broker(t)
	conf, nodeLog := startSTOMPFleet(t, b, 3)
	pingAll(t, conf, 3, 20*time.Second)

	code, out, stderr := runCLI(t, "rpc", "rpcutil", "ping", "--config", conf, "--json")
	if code != ExitOK {
		t.Fatalf("rpc exit %d: %s %s", code, out, stderr)
	}
	var rpc struct {
		Replies []rpcResult `json:"replies"`
		NoReply []string    `json:"no_reply"`
	}
	if err := json.Unmarshal([]byte(out), &rpc); err != nil {
		t.Fatal(err)
	}
	if len(rpc.Replies) != 3 || len(rpc.NoReply) != 0 {
		t.Fatalf("rpc over ActiveMQ: %+v", rpc)
	}

	// Directed request (identity filter) goes through the nodes queue.
	code, out, _ = runCLI(t, "rpc", "rpcutil", "ping", "-I", "node2.stomp.example.net", "--config", conf, "--json")
	if code != ExitOK {
		t.Fatalf("directed rpc exit %d: %s", code, out)
	}
	if err := json.Unmarshal([]byte(out), &rpc); err != nil {
		t.Fatal(err)
	}
	if len(rpc.Replies) != 1 || rpc.Replies[0].Sender != "node2.stomp.example.net" {
		t.Fatalf("directed rpc: %+v", rpc)
	}

	// ActionPolicy and audit work the same over ActiveMQ: the guest may
	// ping but not run inventory, and the node's audit log has both.
	guest := filepath.Join(filepath.Dir(conf), "guest.conf")
	code, out, _ = runCLI(t, "rpc", "rpcutil", "inventory", "-I", "node1.stomp.example.net", "--config", guest, "--json")
	if code != ExitFailed || !strings.Contains(out, protocol.NotAuthorizedMsg) {
		t.Fatalf("guest inventory over ActiveMQ: exit %d, want %d with %q:\n%s", code, ExitFailed, protocol.NotAuthorizedMsg, out)
	}
	if code, out, _ = runCLI(t, "rpc", "rpcutil", "ping", "-I", "node1.stomp.example.net", "--config", guest, "--json"); code != ExitOK {
		t.Fatalf("guest ping over ActiveMQ: %d %s", code, out)
	}
	audit, err := os.ReadFile(filepath.Join(filepath.Dir(conf), "audit-node1.stomp.example.net.log"))
	if err != nil {
		t.Fatal(err)
	}
	decisions := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(audit)), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		if rec["caller"] == "choria=guest.mcollective" {
			decisions[fmt.Sprint(rec["action"], " ", rec["decision"])]++
		}
	}
	if decisions["inventory deny"] != 1 || decisions["ping allow"] != 1 {
		t.Errorf("guest audit records %v, want one inventory deny and one ping allow:\n%s", decisions, audit)
	}

	// The broker's authorization map is enforced and explained: logged in
	// as a node, a client may neither read replies nor send requests.
	body, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	asNode := strings.NewReplacer("user = "+amqtest.ClientUser, "user = "+amqtest.NodeUser,
		"password = "+b.ClientPassword, "password = "+b.NodePassword).Replace(string(body))
	nodeConf := filepath.Join(filepath.Dir(conf), "as-node.conf")
	if err := writeFile(nodeConf, asNode, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, stderr = runCLI(t, "ping", "--config", nodeConf)
	if code == ExitOK || !strings.Contains(stderr, "not authorized to read from: queue://mcollective.reply.") {
		t.Errorf("ping logged in as a node: exit %d, stderr %q, want the broker's refusal", code, stderr)
	}

	// The broker restarts under the running nodes: they reconnect and
	// subscribe again without a restart of their own.
	if err := b.Restart(); err != nil {
		t.Fatal(err)
	}
	pingAll(t, conf, 3, 30*time.Second)
	if len(nodeLog.Lines("subscribed again")) < 3 {
		t.Errorf("nodes did not log their reconnect:\n%s", strings.Join(nodeLog.Lines("broker"), "\n"))
	}
}

// BenchmarkE2EPing is `tutti ping --expect N` (CLI start, config, sign,
// publish, N verified replies) against N real nodes over ActiveMQ and over
// the embedded NATS broker.
func BenchmarkE2EPing(b *testing.B) {
	amqb := amq.Broker(b)
	for _, n := range []int{1, 100} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		fleet, err := demo.StartFleet(ctx, b.TempDir(), n)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		natsConf := fleet.ClientConfig
		stompConf, _ := startSTOMPFleet(b, amqb, n)
		for _, broker := range []struct{ name, conf string }{{"activemq", stompConf}, {"nats", natsConf}} {
			b.Run(fmt.Sprintf("%s/%d_nodes", broker.name, n), func(b *testing.B) {
				args := []string{"ping", "--config", broker.conf, "--expect", fmt.Sprint(n), "--timeout", "20s"}
				for range b.N {
					var out, errb strings.Builder
					if code := Main(args, strings.NewReader(""), &out, &errb); code != ExitOK {
						b.Fatalf("ping exit %d: %s %s", code, out.String(), errb.String())
					}
				}
			})
		}
		fleet.Close()
	}
}
