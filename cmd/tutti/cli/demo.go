package cli

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
	"github.com/spf13/cobra"

	"github.com/tuttifleet/tutti/client"
	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/internal/freeport"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server/daemon"
)

func newDemoCmd(g *globals) *cobra.Command {
	var nodes int
	var keep bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a throwaway fleet on the embedded broker and show tutti at work",
		Long: "demo creates a temporary PKI, starts the embedded NATS broker (TLS, mutual auth) and a few nodes\n" +
			"in this process, runs ping and rpc against them, shows an ActionPolicy denial and a request signed\n" +
			"by an untrusted certificate being refused, then cleans up.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDemo(cmd.Context(), g, nodes, keep) },
	}
	cmd.Flags().IntVar(&nodes, "nodes", 3, "number of nodes")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the temporary directory")
	return cmd
}

// Fleet is a running demo fleet: a broker and nodes in this process,
// configured through real files in Dir. Tests use it too.
type Fleet struct {
	Dir          string
	ClientConfig string
	Nodes        []*daemon.Node
	NodeLog      *logBuffer
	stop         []func()
}

// Close stops everything (idempotent enough for tests).
func (f *Fleet) Close() {
	for i := len(f.stop) - 1; i >= 0; i-- {
		f.stop[i]()
	}
	f.stop = nil
}

// logBuffer collects node log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// Lines returns the collected lines containing substr.
func (l *logBuffer) Lines(substr string) []string {
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

// StartFleet builds a fleet of n nodes in dir.
func StartFleet(ctx context.Context, dir string, n int) (*Fleet, error) {
	f := &Fleet{Dir: dir, NodeLog: &logBuffer{}}
	ok := false
	defer func() {
		if !ok {
			f.Close()
		}
	}()
	pki := filepath.Join(dir, "pki")
	ca, err := x509.InitDir(pki, x509.KeyECDSA)
	if err != nil {
		return nil, err
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
		return nil, err
	}
	for _, name := range names {
		if err := issue(name); err != nil {
			return nil, err
		}
	}
	port, err := freeport.Get()
	if err != nil {
		return nil, err
	}
	sec := func(name string) string {
		return fmt.Sprintf("plugin.security.provider = file\nplugin.security.file.certificate = pki/%[1]s.pem\n"+
			"plugin.security.file.key = pki/%[1]s.key\nplugin.security.file.ca = pki/ca.pem\n", name)
	}
	// The login service's token key: the broker verifies the tokens
	// alice presents with its public half (demo_aaa.go).
	if err := writeLoginKey(filepath.Join(dir, "aaa")); err != nil {
		return nil, err
	}
	brokerConf := filepath.Join(dir, "broker.conf")
	if err := writeFile(brokerConf, "identity = broker.demo.example.net\nlogfile = discard\n"+sec("broker.demo.example.net")+
		fmt.Sprintf("plugin.choria.network.listen_address = 127.0.0.1\nplugin.choria.network.client_port = %d\n", port)+
		"plugin.choria.network.client_signer_cert = aaa/jwt.pub\n", 0o644); err != nil {
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
	roles := []string{"web", "web", "db"}
	countries := []string{"uk", "de", "uk", "fr"}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("node%d.demo.example.net", i)
		factsFile := filepath.Join(dir, name+".facts.yaml")
		facts := fmt.Sprintf("role: %s\nnode_number: %d\nos:\n  family: linux\nsite:\n  country: %s\n", roles[(i-1)%3], i, countries[(i-1)%4])
		if err := writeFile(factsFile, facts, 0o644); err != nil {
			return nil, err
		}
		classes := filepath.Join(dir, name+".classes.txt")
		if err := writeFile(classes, "base\nrole::"+roles[(i-1)%3]+"\n", 0o644); err != nil {
			return nil, err
		}
		conf := filepath.Join(dir, name+".conf")
		body := "identity = " + name + "\ncollectives = mcollective\nlogfile = discard\n" + sec(name) + hosts +
			"plugin.yaml = " + factsFile + "\nclassesfile = " + classes + "\n" +
			"rpcauthorization = 1\nrpcauthprovider = action_policy\nplugin.tutti.policy_dir = policies\n" +
			"rpcaudit = 1\nplugin.rpcaudit.logfile = audit-" + name + ".log\n"
		if err := writeFile(conf, body, 0o644); err != nil {
			return nil, err
		}
		cfg, file, err := config.LoadServer(conf)
		if err != nil {
			return nil, err
		}
		nl := logrus.New()
		nl.SetOutput(f.NodeLog)
		nl.SetFormatter(&logrus.TextFormatter{DisableTimestamp: true, DisableColors: true})
		node, err := daemon.BuildNode(ctx, cfg, file, logrus.NewEntry(nl).WithField("node", name))
		if err != nil {
			return nil, fmt.Errorf("start %s: %w", name, err)
		}
		f.Nodes = append(f.Nodes, node)
		f.stop = append(f.stop, func() { node.Shutdown(context.Background()) })
	}
	for _, user := range []string{"demo", "guest"} {
		if err := writeFile(filepath.Join(dir, user+".conf"), "identity = "+user+".mcollective\n"+sec(user+".mcollective")+hosts, 0o644); err != nil {
			return nil, err
		}
	}
	f.ClientConfig = filepath.Join(dir, "demo.conf")
	ok = true
	return f, nil
}

func runDemo(ctx context.Context, g *globals, n int, keep bool) error {
	if n < 1 || n > 100 {
		return exitWith(ExitUsage, fmt.Errorf("--nodes must be between 1 and 100"))
	}
	dir, err := os.MkdirTemp("", "tutti-demo-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Fprintf(g.stdout, "keeping %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	out := g.stdout
	step := func(s string) { fmt.Fprintf(out, "\n==> %s\n", s) }
	step(fmt.Sprintf("Creating a PKI, the embedded broker (TLS, mutual auth) and %d nodes in %s", n, dir))
	fleet, err := StartFleet(ctx, dir, n)
	if err != nil {
		return err
	}
	defer fleet.Close()
	run := func(title string, args ...string) int {
		step(title + "\n    $ tutti " + strings.Join(args, " "))
		return Main(args, g.stdin, out, out)
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
	step("A request signed by a certificate from an untrusted CA is refused by every node")
	refused, err := demoRogue(ctx, fleet, conf("demo"))
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
	aaaFails, err := demoAAA(ctx, fleet, out, step)
	if err != nil {
		return err
	}
	fails += aaaFails
	step("Done; cleaning up")
	if fails > 0 {
		return exitWith(ExitFailed, fmt.Errorf("%d demo steps did not behave as expected", fails))
	}
	return nil
}

// demoRogue signs a request with a certificate from another CA and sends
// it over an authorised broker connection: nodes must refuse it.
func demoRogue(ctx context.Context, fleet *Fleet, clientConf string) (*client.Summary, error) {
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
	cfg, _, err := config.LoadClient(clientConf)
	if err != nil {
		return nil, err
	}
	p, err := x509.New(daemon.SecurityConfig(cfg.Security))
	if err != nil {
		return nil, err
	}
	l := logrus.New()
	l.SetOutput(io.Discard)
	conn, err := daemon.Connect(ctx, &cfg.Common, p, logrus.NewEntry(l))
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
