package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/agents"
	"github.com/tuttifleet/tutti/client"
	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/dial"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/internal/freeport"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server"
	"github.com/tuttifleet/tutti/server/broker"
	"github.com/tuttifleet/tutti/server/daemon"
	"github.com/tuttifleet/tutti/server/sdnotify/systemdtest"
	"github.com/tuttifleet/tutti/server/version"
)

// slowStarted receives a value whenever slow#sleep starts running.
var slowStarted = make(chan struct{}, 10)

// The slow agent holds a request open so reloads can happen under it.
func init() {
	agents.Register("slow", func(agents.Node) (agents.Agent, error) {
		return agents.NewBasic(agents.Metadata{Name: "slow", Timeout: 10 * time.Second}).
			Action("sleep", func(ctx context.Context, _ *agents.Request) (any, error) {
				slowStarted <- struct{}{}
				select {
				case <-time.After(1500 * time.Millisecond):
					return map[string]string{"slept": "1.5s"}, nil
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}), nil
	})
}

// drainSlowStarted empties slowStarted of starts earlier tests left.
func drainSlowStarted() {
	for len(slowStarted) > 0 {
		<-slowStarted
	}
}

const nodeName = "node1.example.net"

// fleet is one broker, one node run by RunNode from its config file, and
// a client.
type fleet struct {
	dir, conf string
	metrics   string
	client    *client.Client
	clientP   *x509.Provider
	conn      connector.Connector
	broker    *broker.Broker
	done      chan error
	cancel    context.CancelFunc
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func security(name string) string {
	return fmt.Sprintf("plugin.security.provider = file\nplugin.security.file.certificate = pki/%[1]s.pem\n"+
		"plugin.security.file.key = pki/%[1]s.key\nplugin.security.file.ca = pki/ca.pem\n", name)
}

const policyAllow = "policy default deny\nallow\tchoria=tester.mcollective\t*\t*\t*\n"

func (f *fleet) nodeConfig(extra string) string {
	return "identity = " + nodeName + "\ncollectives = mcollective\n" + security(nodeName) +
		"plugin.choria.middleware_hosts = " + f.brokerHosts() + "\n" +
		"logfile = " + filepath.Join(f.dir, "node.log") + "\nloglevel = info\n" +
		"plugin.yaml = " + filepath.Join(f.dir, "facts.yaml") + "\nclassesfile = " + filepath.Join(f.dir, "classes.txt") + "\n" +
		"rpcauthorization = 1\nplugin.tutti.policy_dir = policies\n" +
		"rpcaudit = 1\nplugin.rpcaudit.logfile = audit.log\n" +
		"plugin.choria.stats_address = 127.0.0.1\n" + f.metrics + extra
}

func (f *fleet) brokerHosts() string {
	b, _ := os.ReadFile(filepath.Join(f.dir, "broker.url"))
	return string(b)
}

func startBroker(t *testing.T, dir string) { t.Helper(); startBrokerWith(t, dir, "") }

// startBrokerWith starts the test broker with extra configuration lines.
func startBrokerWith(t *testing.T, dir, extra string) *broker.Broker {
	t.Helper()
	port := freeport.Must(t)
	conf := filepath.Join(dir, "broker.conf")
	write(t, conf, "identity = broker.example.net\nlogfile = discard\n"+security("broker.example.net")+
		fmt.Sprintf("plugin.choria.network.listen_address = 127.0.0.1\nplugin.choria.network.client_port = %d\n", port)+
		adminCertificate+extra)
	cfg, _, err := config.LoadBroker(conf)
	if err != nil {
		t.Fatal(err)
	}
	l := logrus.New()
	l.SetOutput(io.Discard)
	b, err := daemon.StartBroker(context.Background(), cfg, logrus.NewEntry(l))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Shutdown)
	write(t, filepath.Join(dir, "broker.url"), fmt.Sprintf("nats://127.0.0.1:%d", port))
	return b
}

func newPKI(t *testing.T, dir string) {
	t.Helper()
	pki := filepath.Join(dir, "pki")
	ca, err := x509.InitDir(pki, x509.KeyECDSA)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range [][]string{{"broker.example.net", "localhost", "127.0.0.1"}, {nodeName}, {"tester.mcollective"}, {"admin.ops"}} {
		is, err := ca.Issue(n[0], x509.IssueOptions{SANs: n[1:]})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := is.WriteFiles(pki); err != nil {
			t.Fatal(err)
		}
	}
}

// startFleet runs a broker and RunNode under a fake systemd.
func startFleet(t *testing.T, sd *systemdtest.NotifySocket, extra string) *fleet {
	t.Helper()
	return startFleetWith(t, sd, "", extra)
}

// startFleetWith is startFleet with extra broker configuration.
func startFleetWith(t *testing.T, sd *systemdtest.NotifySocket, brokerExtra, extra string) *fleet {
	t.Helper()
	dir := t.TempDir()
	f := &fleet{dir: dir, conf: filepath.Join(dir, "server.conf"), done: make(chan error, 1)}
	f.metrics = fmt.Sprintf("plugin.choria.stats_port = %d\n", freeport.Must(t))
	newPKI(t, dir)
	f.broker = startBrokerWith(t, dir, brokerExtra)
	write(t, filepath.Join(dir, "facts.yaml"), "role: web\n")
	write(t, filepath.Join(dir, "classes.txt"), "base\n")
	write(t, filepath.Join(dir, "policies", "rpcutil.policy"), policyAllow)
	write(t, filepath.Join(dir, "policies", "slow.policy"), policyAllow)
	write(t, f.conf, f.nodeConfig(extra))
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	go func() { f.done <- daemon.RunNode(ctx, f.conf) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-f.done:
		case <-time.After(10 * time.Second):
			t.Error("RunNode did not return after cancel")
		}
	})
	sd.WaitFor(t, "READY=1")
	f.connectClient(t)
	return f
}

// adminCertificate makes admin.ops the test brokers' admin: tests that
// watch subjects no client or node may read (registrations, arbitrary
// subjects across a cluster) connect with it.
const adminCertificate = "plugin.tutti.broker.admin_certificates = ^admin\\.ops$\n"

// connectAs connects to the fleet's broker with certificate name.
func (f *fleet) connectAs(t *testing.T, name string) (connector.Connector, *x509.Provider) {
	t.Helper()
	p, err := x509.New(x509.Config{CertFile: filepath.Join(f.dir, "pki", name+".pem"),
		KeyFile: filepath.Join(f.dir, "pki", name+".key"), CAFile: filepath.Join(f.dir, "pki", "ca.pem")})
	if err != nil {
		t.Fatal(err)
	}
	l := logrus.New()
	l.SetOutput(io.Discard)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := dial.Open(ctx, dial.ConfigFrom(&config.Common{Identity: "tester", NATS: config.NATS{Hosts: []string{f.brokerHosts()}}}), p, logrus.NewEntry(l))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, p
}

func (f *fleet) connectClient(t *testing.T) {
	t.Helper()
	conn, p := f.connectAs(t, "tester.mcollective")
	l := logrus.New()
	l.SetOutput(io.Discard)
	f.conn, f.clientP = conn, p
	var err error
	f.client, err = client.New(client.Options{Connector: conn, Signer: &client.LocalSigner{Signer: p, Caller: "choria=tester.mcollective"},
		Verifier: p, Identity: "tester", Log: logrus.NewEntry(l)})
	if err != nil {
		t.Fatal(err)
	}
}

// call runs agent#action on the node and returns its status.
func (f *fleet) call(t *testing.T, agent, action string) protocol.StatusCode {
	t.Helper()
	var got *protocol.RPCReply
	_, err := f.client.Do(context.Background(), client.Request{Agent: agent, Action: action, Filter: protocol.NewFilter(agent),
		Targets: []string{nodeName}, Expect: 1, Timeout: 10 * time.Second}, func(r client.Result) {
		if r.State != client.Verified {
			t.Errorf("reply not verified: %v", r.Err)
		}
		got = r.RPC
	})
	if err != nil {
		t.Fatal(err)
	}
	if got == nil {
		t.Fatalf("no reply to %s#%s", agent, action)
	}
	return got.StatusCode
}

func (f *fleet) scrape(t *testing.T) string {
	t.Helper()
	port := strings.TrimPrefix(strings.TrimSpace(f.metrics), "plugin.choria.stats_port = ")
	resp, err := http.Get("http://127.0.0.1:" + port + daemon.MetricsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

func (f *fleet) log(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.dir, "node.log"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func hasLine(text, prefix string) bool {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

func TestNodeUnderSystemdMetricsAndWatchdog(t *testing.T) {
	sd := systemdtest.Listen(t)
	t.Setenv("WATCHDOG_USEC", "200000") // keep-alives every 100ms
	f := startFleet(t, sd, "")
	sd.WaitFor(t, "WATCHDOG=1")

	if code := f.call(t, "rpcutil", "ping"); code != protocol.OK {
		t.Fatalf("ping: status %d", code)
	}
	m := f.scrape(t)
	for _, want := range []string{
		`tutti_node_requests_total{action="ping",agent="rpcutil",status="0"} 1`,
		`tutti_node_agent_requests_total{agent="rpcutil",result="ok"} 1`,
		`tutti_connector_connected 1`,
		`tutti_connector_reconnects_total 0`,
		`tutti_node_replies_total 1`,
		`tutti_node_action_seconds_count{agent="rpcutil"} 1`,
		`tutti_build_info{component="node",version="` + version.Version + `"} 1`,
	} {
		if !hasLine(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	// a request signed by a certificate the node does not know is refused
	// and counted by reason
	rogue, err := x509.NewCA("rogue", x509.KeyECDSA, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	is, err := rogue.Issue("tester.mcollective", x509.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rp, err := x509.NewFromPEM(is.CertPEM, is.KeyPEM, rogue.CertPEM, x509.Config{})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := client.New(client.Options{Connector: f.conn, Signer: &client.LocalSigner{Signer: rp, Caller: "choria=tester.mcollective"},
		Verifier: f.clientP, Identity: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Do(context.Background(), client.Request{Agent: "rpcutil", Action: "ping", Filter: protocol.NewFilter("rpcutil"),
		Targets: []string{nodeName}, Timeout: 300 * time.Millisecond}, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !hasLine(f.scrape(t), `tutti_node_refused_total{reason="certificate"} 1`) {
		if time.Now().After(deadline) {
			t.Fatalf("refusal not counted:\n%s", grep(f.scrape(t), "refused"))
		}
		time.Sleep(20 * time.Millisecond)
	}

	f.cancel()
	sd.WaitFor(t, "STOPPING=1")
}

func grep(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestReloadOnSIGHUP(t *testing.T) {
	sd := systemdtest.Listen(t)
	f := startFleet(t, sd, "")
	if code := f.call(t, "rpcutil", "ping"); code != protocol.OK {
		t.Fatalf("ping before reload: status %d", code)
	}

	// A request that is running when the reload happens finishes. Starts
	// of slow#sleep left by an earlier test (TestFullQueueAnswersNodeBusy
	// runs several) must not be taken for this one's.
	drainSlowStarted()
	slow := make(chan protocol.StatusCode, 1)
	go func() { slow <- f.call(t, "slow", "sleep") }()
	select { // it passed authorization and runs
	case <-slowStarted:
	case <-time.After(10 * time.Second):
		t.Fatal("slow#sleep did not start")
	}

	// A valid new configuration changes behaviour: the new policy
	// directory denies everything. The log file was moved away by
	// logrotate and must be reopened.
	write(t, filepath.Join(f.dir, "strict", "rpcutil.policy"), "policy default deny\n")
	write(t, filepath.Join(f.dir, "strict", "slow.policy"), "policy default deny\n")
	write(t, f.conf, strings.Replace(f.nodeConfig(""), "policy_dir = policies", "policy_dir = strict", 1))
	if err := os.Rename(filepath.Join(f.dir, "node.log"), filepath.Join(f.dir, "node.log.1")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	sd.WaitFor(t, "RELOADING=1")
	sd.WaitFor(t, "READY=1")
	if code := <-slow; code != protocol.OK {
		t.Fatalf("request in flight during the reload: status %d", code)
	}
	if code := f.call(t, "rpcutil", "ping"); code != protocol.Aborted {
		t.Fatalf("after reload to a deny-all policy: status %d, want %d", code, protocol.Aborted)
	}
	if l := f.log(t); !strings.Contains(l, "reload complete") {
		t.Fatalf("reopened log lacks the reload:\n%s", l)
	}
	if !strings.Contains(f.scrape(t), `tutti_daemon_reloads_total{result="ok"} 1`) {
		t.Error("reload not counted")
	}

	// An invalid configuration is refused with a clear log line and the
	// old one (deny-all) stays.
	write(t, f.conf, f.nodeConfig("rpcauthorisation = 0\n"))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	sd.WaitFor(t, "RELOADING=1")
	sd.WaitFor(t, "READY=1")
	refused := grep(f.log(t), "reload refused")
	if !strings.Contains(refused, "keeping the old one") || !strings.Contains(refused, "rpcauthorisation") {
		t.Fatalf("refusal log line %q does not say what and why", refused)
	}
	if code := f.call(t, "rpcutil", "ping"); code != protocol.Aborted {
		t.Fatalf("after a refused reload: status %d, want the old policy's %d", code, protocol.Aborted)
	}
	if !strings.Contains(f.scrape(t), `tutti_daemon_reloads_total{result="error"} 1`) {
		t.Error("refused reload not counted")
	}
}

func TestRegistrationOnTheBroker(t *testing.T) {
	sd := systemdtest.Listen(t)
	f := startFleet(t, sd, "registration = agentlist\nregisterinterval = 1\nregistration_splay = false\n")
	var mu sync.Mutex
	var got []*server.Registration
	var errs []error
	// Registrations are for the fleet's inventory, not for clients: the
	// broker lets only an admin certificate read them.
	admin, _ := f.connectAs(t, "admin.ops")
	sub, err := admin.Subscribe(connector.Destination{Kind: connector.Broadcast, Collective: "mcollective", Agent: server.RegistrationAgent},
		func(m connector.Message) {
			reg, err := server.VerifyRegistration(m.Data, f.clientP, time.Now())
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			got = append(got, reg)
		})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d verified registrations in 10s with registerinterval = 1 (errors: %v)", n, errs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	r := got[0]
	b, _ := json.Marshal(r)
	if r.Identity != nodeName || !strings.Contains(strings.Join(r.Agents, ","), "rpcutil") || r.Classes != 1 {
		t.Fatalf("registration %s", b)
	}
	if m := grep(f.scrape(t), `tutti_daemon_registrations_total{result="ok"}`); m == "" || strings.HasSuffix(m, " 0") {
		t.Errorf("registrations not counted: %q", m)
	}
}

func TestBrokerUnderSystemd(t *testing.T) {
	sd := systemdtest.Listen(t)
	dir := t.TempDir()
	newPKI(t, dir)
	port, mport := freeport.Must(t), freeport.Must(t)
	conf := filepath.Join(dir, "broker.conf")
	write(t, conf, "identity = broker.example.net\nlogfile = "+filepath.Join(dir, "broker.log")+"\n"+security("broker.example.net")+
		fmt.Sprintf("plugin.choria.network.listen_address = 127.0.0.1\nplugin.choria.network.client_port = %d\n", port)+
		fmt.Sprintf("plugin.tutti.metrics_port = %d\n", mport))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- daemon.RunBroker(ctx, conf) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	sd.WaitFor(t, "READY=1")
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", mport, daemon.MetricsPath))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"tutti_broker_connections 0", `tutti_build_info{component="broker"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("broker metrics lack %q", want)
		}
	}
	// SIGHUP reopens the log file
	if err := os.Rename(filepath.Join(dir, "broker.log"), filepath.Join(dir, "broker.log.1")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	sd.WaitFor(t, "RELOADING=1")
	sd.WaitFor(t, "READY=1")
	if l, err := os.ReadFile(filepath.Join(dir, "broker.log")); err != nil || !strings.Contains(string(l), "log reopened") {
		t.Fatalf("broker log not reopened: %v %s", err, l)
	}
}
