// Package demo is `tutti demo` (README command 1): a throwaway fleet —
// a PKI, the embedded broker and nodes in this process, tutti-aaa — and
// the tutti commands that show it at work. The end-to-end tests of the
// CLI run on its fleet too.
package demo

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/client"
	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/dial"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/internal/freeport"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server/daemon"
)

// Fleet is a running demo fleet: a broker and nodes in this process,
// configured through real files in Dir. Tests use it too.
type Fleet struct {
	Dir          string
	ClientConfig string
	Nodes        []*daemon.Node
	NodeLog      *LogBuffer
	stop         []func()
}

// Close stops everything (idempotent enough for tests).
func (f *Fleet) Close() {
	for i := len(f.stop) - 1; i >= 0; i-- {
		f.stop[i]()
	}
	f.stop = nil
}

// LogBuffer collects node log lines.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// Lines returns the collected lines containing substr.
func (l *LogBuffer) Lines(substr string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range strings.Split(l.b.String(), "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return out
}

func writeFile(path, content string, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), mode)
}

// StartFleet builds a fleet of n nodes in dir. brokerLines are extra
// lines of the broker's configuration (JetStream, roles), paths
// relative to dir.
func StartFleet(ctx context.Context, dir string, n int, brokerLines ...string) (*Fleet, error) {
	return StartFleetConfig(ctx, dir, n, FleetConfig{Broker: brokerLines})
}

// FleetConfig is the extra configuration of a fleet: lines added to the
// broker's configuration and to every node's, paths relative to the
// fleet's directory.
type FleetConfig struct {
	Broker, Node []string
}

// StartFleetConfig builds a fleet of n nodes in dir with the extra
// configuration c.
func StartFleetConfig(ctx context.Context, dir string, n int, c FleetConfig) (*Fleet, error) {
	brokerLines := c.Broker
	f := &Fleet{Dir: dir, NodeLog: &LogBuffer{}}
	ok := false
	defer func() {
		if !ok {
			f.Close()
		}
	}()
	if err := issuePKI(filepath.Join(dir, "pki"), n); err != nil {
		return nil, err
	}
	port, err := freeport.Get()
	if err != nil {
		return nil, err
	}
	// The login service's token key: the broker verifies the tokens
	// alice presents with its public half (aaa.go).
	if err := writeLoginKey(filepath.Join(dir, "aaa")); err != nil {
		return nil, err
	}
	brokerConf := filepath.Join(dir, "broker.conf")
	if err := writeFile(brokerConf, "identity = broker.demo.example.net\nlogfile = discard\n"+securityConf("broker.demo.example.net")+
		fmt.Sprintf("plugin.choria.network.listen_address = 127.0.0.1\nplugin.choria.network.client_port = %d\n", port)+
		"plugin.choria.network.client_signer_cert = aaa/jwt.pub\n"+strings.Join(brokerLines, "\n")+"\n", 0o644); err != nil {
		return nil, err
	}
	bcfg, _, err := config.LoadBroker(brokerConf)
	if err != nil {
		return nil, err
	}
	blog := logrus.New()
	blog.SetOutput(io.Discard)
	b, err := daemon.StartBroker(ctx, bcfg, logrus.NewEntry(blog))
	if err != nil {
		return nil, err
	}
	f.stop = append(f.stop, b.Shutdown)
	hosts := fmt.Sprintf("plugin.choria.middleware_hosts = nats://127.0.0.1:%d\n", port)
	policy := "policy default deny\nallow\tchoria=demo.mcollective\t*\t*\t*\nallow\tchoria=guest.mcollective\tping\t*\t*\n"
	if err := writeFile(filepath.Join(dir, "policies", "rpcutil.policy"), policy, 0o644); err != nil {
		return nil, err
	}
	var nodeLines string
	for _, l := range c.Node {
		nodeLines += l + "\n"
	}
	for i := 1; i <= n; i++ {
		if err := f.startNode(ctx, i, hosts+nodeLines); err != nil {
			return nil, err
		}
	}
	for _, user := range []string{"demo", "guest"} {
		if err := writeFile(filepath.Join(dir, user+".conf"), "identity = "+user+".mcollective\n"+securityConf(user+".mcollective")+hosts, 0o644); err != nil {
			return nil, err
		}
	}
	f.ClientConfig = filepath.Join(dir, "demo.conf")
	ok = true
	return f, nil
}

// issuePKI creates the fleet's CA in pki and issues the certificates of
// the broker, the users demo and guest and n nodes.
func issuePKI(pki string, n int) error {
	ca, err := x509.InitDir(pki, x509.KeyECDSA)
	if err != nil {
		return err
	}
	issue := func(name string, sans ...string) error {
		is, err := ca.Issue(name, x509.IssueOptions{SANs: sans})
		if err != nil {
			return err
		}
		_, _, err = is.WriteFiles(pki)
		return err
	}
	names := []string{"demo.mcollective", "guest.mcollective"}
	for i := 1; i <= n; i++ {
		names = append(names, fmt.Sprintf("node%d.demo.example.net", i))
	}
	if err := issue("broker.demo.example.net", "localhost", "127.0.0.1"); err != nil {
		return err
	}
	for _, name := range names {
		if err := issue(name); err != nil {
			return err
		}
	}
	return nil
}

// securityConf is the security section of a config file in the fleet's
// directory for the certificate name.
func securityConf(name string) string {
	return fmt.Sprintf("plugin.security.provider = file\nplugin.security.file.certificate = pki/%[1]s.pem\n"+
		"plugin.security.file.key = pki/%[1]s.key\nplugin.security.file.ca = pki/ca.pem\n", name)
}

// startNode writes the facts, classes and config of node i and starts
// it in this process; common are the configuration lines every node
// shares (brokers, extra settings).
func (f *Fleet) startNode(ctx context.Context, i int, common string) error {
	roles := []string{"web", "web", "db"}
	countries := []string{"uk", "de", "uk", "fr"}
	name := fmt.Sprintf("node%d.demo.example.net", i)
	factsFile := filepath.Join(f.Dir, name+".facts.yaml")
	facts := fmt.Sprintf("role: %s\nnode_number: %d\nos:\n  family: linux\nsite:\n  country: %s\n", roles[(i-1)%3], i, countries[(i-1)%4])
	if err := writeFile(factsFile, facts, 0o644); err != nil {
		return err
	}
	classes := filepath.Join(f.Dir, name+".classes.txt")
	if err := writeFile(classes, "base\nrole::"+roles[(i-1)%3]+"\n", 0o644); err != nil {
		return err
	}
	conf := filepath.Join(f.Dir, name+".conf")
	body := "identity = " + name + "\ncollectives = mcollective\nlogfile = discard\n" + securityConf(name) + common +
		"plugin.yaml = " + factsFile + "\nclassesfile = " + classes + "\n" +
		"rpcauthorization = 1\nrpcauthprovider = action_policy\nplugin.tutti.policy_dir = policies\n" +
		"rpcaudit = 1\nplugin.rpcaudit.logfile = audit-" + name + ".log\n"
	if err := writeFile(conf, body, 0o644); err != nil {
		return err
	}
	cfg, file, err := config.LoadServer(conf)
	if err != nil {
		return err
	}
	nl := logrus.New()
	nl.SetOutput(f.NodeLog)
	nl.SetFormatter(&logrus.TextFormatter{DisableTimestamp: true, DisableColors: true})
	node, err := daemon.BuildNode(ctx, cfg, file, logrus.NewEntry(nl).WithField("node", name))
	if err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	f.Nodes = append(f.Nodes, node)
	f.stop = append(f.stop, func() { node.Shutdown(context.Background()) })
	return nil
}

// Main runs one tutti command line and returns its exit code (the CLI's
// Main): each step of the demo is a real command.
type Main func(args []string, stdin io.Reader, stdout, stderr io.Writer) int

// Options are the flags of `tutti demo` and where it runs its commands.
type Options struct {
	Nodes int
	Keep  bool // keep the temporary directory
	Tutti Main
	Stdin io.Reader
	Out   io.Writer // the commands' output and errors, and the steps
}

// Validate checks the options before anything starts.
func (o *Options) Validate() error {
	if o.Nodes < 1 || o.Nodes > 100 {
		return fmt.Errorf("--nodes must be between 1 and 100")
	}
	return nil
}

// Run builds a fleet of o.Nodes nodes, runs the demo's steps on it and
// cleans up; it fails when a step did not behave as it shows.
func Run(ctx context.Context, o *Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	n := o.Nodes
	dir, err := os.MkdirTemp("", "tutti-demo-")
	if err != nil {
		return err
	}
	if o.Keep {
		fmt.Fprintf(o.Out, "keeping %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	out := o.Out
	step := func(s string) { fmt.Fprintf(out, "\n==> %s\n", s) }
	step(fmt.Sprintf("Creating a PKI, the embedded broker (TLS, mutual auth) and %d nodes in %s", n, dir))
	fleet, err := StartFleet(ctx, dir, n)
	if err != nil {
		return err
	}
	defer fleet.Close()
	run := func(title string, args ...string) int {
		step(title + "\n    $ tutti " + strings.Join(args, " "))
		return o.Tutti(args, o.Stdin, out, out)
	}
	conf := func(user string) string { return filepath.Join(dir, user+".conf") }
	fails := 0
	if run("Ping every node (signed request, every reply signed by its node and verified)", "ping", "--config", conf("demo"), "--expect", fmt.Sprint(n)) != 0 {
		fails++
	}
	if run("Generic RPC: rpcutil ping", "rpc", "rpcutil", "ping", "--config", conf("demo")) != 0 {
		fails++
	}
	if run("Filtered RPC: only web servers, one fact", "rpc", "rpcutil", "get_fact", "fact=os.family", "-F", "role=web", "--config", conf("demo")) != 0 {
		fails++
	}
	if run("ActionPolicy: guest.mcollective may only ping; inventory is denied on every node", "rpc", "rpcutil", "inventory", "--config", conf("guest")) == 0 {
		fails++
	}
	step("The broker refuses what a certificate has no business doing: guest.mcollective tries to read demo.mcollective's replies")
	if err := Snoop(ctx, conf("guest"), "choria=demo.mcollective"); err != nil {
		fmt.Fprintln(out, "refused:", err)
	} else {
		fmt.Fprintln(out, "the broker let guest.mcollective subscribe")
		fails++
	}
	step("A request signed by a certificate from an untrusted CA is refused by every node")
	refused, err := Rogue(ctx, fleet, conf("demo"))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "replies received: %d\n", refused.Replies)
	for _, l := range fleet.NodeLog.Lines("request refused") {
		fmt.Fprintln(out, "    node log:", l)
	}
	step("Audit records (one JSON line per decision, denials included)")
	if b, err := os.ReadFile(filepath.Join(dir, "audit-node1.demo.example.net.log")); err == nil {
		fmt.Fprint(out, string(b))
	}
	if refused.Replies != 0 {
		fails++
	}
	aaaFails, err := centralAAA(ctx, fleet, o.Tutti, out, step)
	if err != nil {
		return err
	}
	fails += aaaFails
	step("Done; cleaning up")
	if fails > 0 {
		return fmt.Errorf("%d demo steps did not behave as expected", fails)
	}
	return nil
}

// Snoop connects with clientConf's certificate and subscribes to the
// replies of another caller; it returns the broker's refusal (nil when
// the broker let it subscribe).
func Snoop(ctx context.Context, clientConf, victim string) error {
	cfg, _, conn, err := connectAs(ctx, clientConf)
	if err != nil {
		return err
	}
	defer conn.Close()
	sub, err := conn.Subscribe(connector.Destination{Kind: connector.Reply,
		ReplyTo: conn.NewReplyTo(cfg.MainCollective, victim, protocol.NewRequestID())}, func(connector.Message) {})
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	return conn.Flush(ctx)
}

// connectAs connects to the fleet's broker with clientConf's certificate
// (its log discarded), as the CLI would.
func connectAs(ctx context.Context, clientConf string) (*config.Client, *x509.Provider, connector.Connector, error) {
	cfg, _, err := config.LoadClient(clientConf)
	if err != nil {
		return nil, nil, nil, err
	}
	p, err := x509.New(x509.ConfigFrom(cfg.Security))
	if err != nil {
		return nil, nil, nil, err
	}
	l := logrus.New()
	l.SetOutput(io.Discard)
	conn, err := dial.Open(ctx, dial.ConfigFrom(&cfg.Common), p, logrus.NewEntry(l))
	if err != nil {
		return nil, nil, nil, err
	}
	return cfg, p, conn, nil
}

// Rogue signs a request with a certificate from another CA and sends it
// over an authorised broker connection: nodes must refuse it.
func Rogue(ctx context.Context, fleet *Fleet, clientConf string) (*client.Summary, error) {
	rogueCA, err := x509.NewCA("rogue CA", x509.KeyECDSA, time.Hour)
	if err != nil {
		return nil, err
	}
	mallory, err := rogueCA.Issue("demo.mcollective", x509.IssueOptions{})
	if err != nil {
		return nil, err
	}
	rp, err := x509.NewFromPEM(mallory.CertPEM, mallory.KeyPEM, rogueCA.CertPEM, x509.Config{})
	if err != nil {
		return nil, err
	}
	_, p, conn, err := connectAs(ctx, clientConf)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	cl, err := client.New(client.Options{Connector: conn, Signer: &client.LocalSigner{Signer: rp, Caller: "choria=demo.mcollective"},
		Verifier: p, Identity: "demo.mcollective"})
	if err != nil {
		return nil, err
	}
	return cl.Do(ctx, client.Request{Agent: "rpcutil", Action: "ping", Filter: protocol.NewFilter("rpcutil"), Timeout: time.Second}, nil)
}
