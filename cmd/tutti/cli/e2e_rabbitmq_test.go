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
	"github.com/tuttifleet/tutti/connector/stomp/rabbittest"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server/daemon"
)

// rmq is the package's RabbitMQ for the end-to-end tests over
// connector = rabbitmq, started by the first test that needs it (and
// stopped by TestMain).
var rmq rabbittest.Shared

// startRabbitFleet runs n tuttid nodes (node<i>.rabbit.example.net) on b
// with connector = rabbitmq (STOMP+SSL with client certificates, the
// broker's node and client logins, its /mcollective vhost), with
// ActionPolicy and audit as in startSTOMPNodes, and returns the client
// config file; guest.conf beside it is a client the policy lets ping
// only.
func startRabbitFleet(t *testing.T, b *rabbittest.Broker, n int) (clientConf string, nodeLog *demo.LogBuffer) {
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
			"plugin.security.file.ca = pki/ca.pem\nconnector = rabbitmq\nplugin.rabbitmq.vhost = %[6]s\n"+
			"plugin.rabbitmq.pool.size = 1\n"+
			"plugin.rabbitmq.pool.1.host = %[2]s\nplugin.rabbitmq.pool.1.port = %[3]d\nplugin.rabbitmq.pool.1.ssl = 1\n"+
			"plugin.rabbitmq.pool.1.user = %[4]s\nplugin.rabbitmq.pool.1.password = %[5]s\n"+
			"plugin.rabbitmq.max_reconnect_delay = 1\n", name, b.Host, b.SSLPort, user, pass, rabbittest.VHost)
	}
	policy := "policy default deny\nallow\tchoria=rabbit.mcollective\t*\t*\t*\nallow\tchoria=guest.mcollective\tping\t*\t*\n"
	if err := writeFile(filepath.Join(dir, "policies", "rpcutil.policy"), policy, 0o644); err != nil {
		t.Fatal(err)
	}
	nodeLog = &demo.LogBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("node%d.rabbit.example.net", i)
		issue(name)
		conf := filepath.Join(dir, name+".conf")
		if err := writeFile(conf, common(name, rabbittest.NodeUser, b.NodePassword)+"collectives = "+rabbittest.Collective+"\n"+
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
	}
	issue("rabbit.mcollective")
	issue("guest.mcollective")
	clientConf = filepath.Join(dir, "client.conf")
	if err := writeFile(clientConf, common("rabbit.mcollective", rabbittest.ClientUser, b.ClientPassword), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(filepath.Join(dir, "guest.conf"), common("guest.mcollective", rabbittest.ClientUser, b.ClientPassword), 0o644); err != nil {
		t.Fatal(err)
	}
	return clientConf, nodeLog
}

// rabbitPingAll pings until every node answered with a verified reply or
// the deadline passes.
func rabbitPingAll(t *testing.T, conf string, n int, within time.Duration) {
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
				if r.Verification != "verified" || !strings.HasSuffix(r.Sender, ".rabbit.example.net") {
					t.Fatalf("reply %+v", r)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ping over RabbitMQ: exit %d, %d of %d replies: %s %s", code, len(ping.Replies), n, out, stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// tutti ping and rpc against tuttid nodes over RabbitMQ: broadcast
// through mcollective_broadcast, directed through mcollective_directed,
// replies through mcollective_reply; ActionPolicy and audit as on every
// connector; the broker's per-role permissions; a broker restart under
// the running nodes.
func TestE2ERabbitMQPingRPCAndBrokerRestart(t *testing.T) {
	b := rmq.Broker(t)
	conf, nodeLog := startRabbitFleet(t, b, 3)
	rabbitPingAll(t, conf, 3, 30*time.Second)

	var rpc struct {
		Replies []rpcResult `json:"replies"`
		NoReply []string    `json:"no_reply"`
	}
	code, out, stderr := runCLI(t, "rpc", "rpcutil", "ping", "--config", conf, "--json")
	if code != ExitOK {
		t.Fatalf("rpc exit %d: %s %s", code, out, stderr)
	}
	if err := json.Unmarshal([]byte(out), &rpc); err != nil {
		t.Fatal(err)
	}
	if len(rpc.Replies) != 3 || len(rpc.NoReply) != 0 {
		t.Fatalf("rpc over RabbitMQ: %+v", rpc)
	}

	code, out, _ = runCLI(t, "rpc", "rpcutil", "ping", "-I", "node2.rabbit.example.net", "--config", conf, "--json")
	if code != ExitOK {
		t.Fatalf("directed rpc exit %d: %s", code, out)
	}
	rpc.Replies, rpc.NoReply = nil, nil
	if err := json.Unmarshal([]byte(out), &rpc); err != nil {
		t.Fatal(err)
	}
	if len(rpc.Replies) != 1 || rpc.Replies[0].Sender != "node2.rabbit.example.net" {
		t.Fatalf("directed rpc: %+v", rpc)
	}

	guest := filepath.Join(filepath.Dir(conf), "guest.conf")
	code, out, _ = runCLI(t, "rpc", "rpcutil", "inventory", "-I", "node1.rabbit.example.net", "--config", guest, "--json")
	if code != ExitFailed || !strings.Contains(out, protocol.NotAuthorizedMsg) {
		t.Fatalf("guest inventory over RabbitMQ: exit %d, want %d with %q:\n%s", code, ExitFailed, protocol.NotAuthorizedMsg, out)
	}
	audit, err := os.ReadFile(filepath.Join(filepath.Dir(conf), "audit-node1.rabbit.example.net.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(audit), `"caller":"choria=guest.mcollective"`) {
		t.Errorf("node1's audit log has no record of the guest:\n%s", audit)
	}

	// Logged in as a node, a client may not read replies: the broker's
	// refusal reaches the user.
	body, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	asNode := strings.NewReplacer("user = "+rabbittest.ClientUser, "user = "+rabbittest.NodeUser,
		"password = "+b.ClientPassword, "password = "+b.NodePassword).Replace(string(body))
	nodeConf := filepath.Join(filepath.Dir(conf), "as-node.conf")
	if err := writeFile(nodeConf, asNode, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCLI(t, "ping", "--config", nodeConf)
	if code == ExitOK || !strings.Contains(stderr, "access to exchange 'mcollective_reply'") {
		t.Errorf("ping logged in as a node: exit %d, stderr %q, want the broker's refusal", code, stderr)
	}

	if err := b.Restart(); err != nil {
		t.Fatal(err)
	}
	rabbitPingAll(t, conf, 3, 60*time.Second)
	if len(nodeLog.Lines("subscribed again")) < 3 {
		t.Errorf("nodes did not log their reconnect:\n%s", strings.Join(nodeLog.Lines("broker"), "\n"))
	}
}
