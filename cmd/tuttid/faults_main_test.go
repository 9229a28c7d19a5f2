package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/aaa/audit"
	"github.com/tuttifleet/tutti/client"
	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/connector/dial"
	"github.com/tuttifleet/tutti/internal/freeport"
	"github.com/tuttifleet/tutti/security/x509"
)

// asTuttidEnv makes the test binary run tuttid's main with its
// arguments: the fault tests start real tuttid processes (broker,
// nodes, emulator) from the code under test without a separate build.
const asTuttidEnv = "TUTTI_TEST_AS_TUTTID"

func TestMain(m *testing.M) {
	if os.Getenv(asTuttidEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// proc is a tuttid process started by a fault test; its output goes to
// <dir>/<name>.out, shown when the test fails.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  string
	done chan struct{}
}

// startTuttid runs tuttid args in dir as a child process, ended
// (SIGKILL) when the test ends if it still runs.
func startTuttid(t *testing.T, dir, name string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, out: filepath.Join(dir, name+".out"), done: make(chan struct{})}
	out, err := os.OpenFile(p.out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	p.cmd = exec.Command(os.Args[0], args...)
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), asTuttidEnv+"=1")
	p.cmd.Stdout, p.cmd.Stderr = out, out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill(t)
		if t.Failed() {
			b, _ := os.ReadFile(p.out)
			t.Logf("%s output (tail):\n%s", p.name, tail(b, 3000))
		}
	})
	return p
}

// kill SIGKILLs the process (if it still runs) and waits for it.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		return
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Errorf("kill %s: %v", p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not die after SIGKILL", p.name)
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// faultFleet is the directory of a fleet whose parts run as processes:
// pki/ (the CA with its key, so the emulator can issue), broker.conf,
// one <node>.conf per real node, and policies/.
type faultFleet struct {
	dir  string
	port int // the broker's client port
	url  string
}

const tester = "tester.mcollective"

func securityLines(name string) string {
	return fmt.Sprintf("plugin.security.provider = file\nplugin.security.file.certificate = pki/%[1]s.pem\n"+
		"plugin.security.file.key = pki/%[1]s.key\nplugin.security.file.ca = pki/ca.pem\n", name)
}

// newFaultFleet writes the PKI (broker, tester and nodes), the broker's
// configuration (JetStream store under store/ when stream) and the
// policies allowing tester every agent listed.
func newFaultFleet(t *testing.T, nodes []string, stream bool, agents ...string) *faultFleet {
	t.Helper()
	f := &faultFleet{dir: t.TempDir(), port: freeport.Must(t)}
	f.url = fmt.Sprintf("nats://127.0.0.1:%d", f.port)
	pki := filepath.Join(f.dir, "pki")
	ca, err := x509.InitDir(pki, x509.KeyECDSA)
	if err != nil {
		t.Fatal(err)
	}
	names := append([][]string{{"broker.example.net", "localhost", "127.0.0.1"}, {tester}, {"admin.ops"}}, wrap(nodes)...)
	for _, n := range names {
		is, err := ca.Issue(n[0], x509.IssueOptions{SANs: n[1:]})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := is.WriteFiles(pki); err != nil {
			t.Fatal(err)
		}
	}
	f.writeBrokerConf(t, stream)
	for _, a := range agents {
		writeFile(t, filepath.Join(f.dir, "policies", a+".policy"), "policy default deny\nallow\tchoria="+tester+"\t*\t*\t*\n")
	}
	return f
}

// writeBrokerConf writes broker.conf, with a JetStream store under
// store/ when stream.
func (f *faultFleet) writeBrokerConf(t *testing.T, stream bool) {
	t.Helper()
	broker := "identity = broker.example.net\nlogfile = " + filepath.Join(f.dir, "broker.log") + "\nloglevel = info\n" +
		securityLines("broker.example.net") +
		fmt.Sprintf("plugin.choria.network.listen_address = 127.0.0.1\nplugin.choria.network.client_port = %d\n", f.port) +
		"plugin.tutti.broker.admin_certificates = ^admin\\.ops$\n"
	if stream {
		broker += "plugin.choria.network.stream.store = " + filepath.Join(f.dir, "store") + "\n"
	}
	writeFile(t, filepath.Join(f.dir, "broker.conf"), broker)
}

func wrap(names []string) [][]string {
	var out [][]string
	for _, n := range names {
		out = append(out, []string{n})
	}
	return out
}

// nodeConf writes <name>.conf: a node auditing to <name>.audit with
// authorization on, plus extra lines.
func (f *faultFleet) nodeConf(t *testing.T, name, extra string) string {
	t.Helper()
	conf := filepath.Join(f.dir, name+".conf")
	writeFile(t, conf, "identity = "+name+"\ncollectives = mcollective\n"+securityLines(name)+
		"plugin.choria.middleware_hosts = "+f.url+"\n"+
		"logfile = "+filepath.Join(f.dir, name+".log")+"\nloglevel = info\n"+
		"rpcauthorization = 1\nplugin.tutti.policy_dir = policies\n"+
		"rpcaudit = 1\nplugin.rpcaudit.logfile = "+f.auditFile(name)+"\n"+extra)
	return conf
}

func (f *faultFleet) auditFile(name string) string { return filepath.Join(f.dir, name+".audit") }

// startBroker runs `tuttid broker` and waits until its port accepts
// connections.
func (f *faultFleet) startBroker(t *testing.T) *proc {
	t.Helper()
	p := startTuttid(t, f.dir, "broker", "broker", "--config", filepath.Join(f.dir, "broker.conf"))
	waitUntil(t, 20*time.Second, "the broker to listen", func() bool {
		select {
		case <-p.done:
			t.Fatalf("the broker exited: %s", readTail(p.out))
		default:
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", f.port), 100*time.Millisecond)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	return p
}

func readTail(path string) []byte {
	b, _ := os.ReadFile(path)
	return tail(b, 2000)
}

// client connects the tester (reconnecting through broker restarts as
// every tutti connection does).
func (f *faultFleet) client(t *testing.T) *client.Client {
	t.Helper()
	pki := filepath.Join(f.dir, "pki")
	p, err := x509.New(x509.Config{CertFile: filepath.Join(pki, tester+".pem"), KeyFile: filepath.Join(pki, tester+".key"),
		CAFile: filepath.Join(pki, "ca.pem")})
	if err != nil {
		t.Fatal(err)
	}
	l := logrus.New()
	l.SetOutput(io.Discard)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := dial.Open(ctx, dial.ConfigFrom(&config.Common{Identity: "tester", NATS: config.NATS{Hosts: []string{f.url}}}), p, logrus.NewEntry(l))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c, err := client.New(client.Options{Connector: conn, Signer: &client.LocalSigner{Signer: p, Caller: "choria=" + tester},
		Verifier: p, Identity: "tester", Log: logrus.NewEntry(l)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
	}
}

// decisions reads an audit file and returns its decision records by
// node and request id, failing the test on a line that does not parse
// or a request decided twice on one node.
func decisions(t *testing.T, path string) map[string]map[string]audit.Event {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]audit.Event{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		e, err := audit.DecodeEvent(line)
		if err != nil {
			t.Fatalf("%s line %d: %v\n%s", filepath.Base(path), n, err, line)
		}
		if e.Kind != audit.KindDecision {
			continue
		}
		if got[e.Identity] == nil {
			got[e.Identity] = map[string]audit.Event{}
		}
		if _, dup := got[e.Identity][e.RequestID]; dup {
			t.Errorf("%s: request %s decided twice on %s", filepath.Base(path), e.RequestID, e.Identity)
		}
		got[e.Identity][e.RequestID] = e
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}
