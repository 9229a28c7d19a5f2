// Package rabbittest runs a real RabbitMQ (Debian's rabbitmq-server
// package with its STOMP plugin) for tests, with the project's broker
// script (scripts/rabbitmq/broker): STOMP over TLS on a random loopback
// port with client certificates from a throwaway CA required, a vhost
// with MCollective's exchanges for the collective "mcollective", and
// logins for nodes, clients and an administrator with per-role
// permissions. Its own epmd and every other port are random too, so
// brokers of several test packages run side by side.
//
// Starting RabbitMQ costs seconds, so a test package shares one broker:
//
//	var rmq rabbittest.Shared
//
//	func TestMain(m *testing.M) { os.Exit(rmq.Main(m)) }
//
//	func TestX(t *testing.T) {
//		b := rmq.Broker(t) // skips when RabbitMQ is not installed
//		…
//	}
//
// Without RabbitMQ tests skip with the reason, unless
// TUTTI_REQUIRE_RABBITMQ=1 is set (CI), in which case they fail.
package rabbittest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/internal/freeport"
	"github.com/tuttifleet/tutti/security/x509/x509test"
)

// RequireEnv, when "1", turns "RabbitMQ is not installed" from a skip
// into a failure.
const RequireEnv = "TUTTI_REQUIRE_RABBITMQ"

// Bin is where Debian's package keeps rabbitmq-server (RABBITMQ_BIN
// overrides it).
func Bin() string {
	if b := os.Getenv("RABBITMQ_BIN"); b != "" {
		return b
	}
	return "/usr/lib/rabbitmq/bin"
}

// Logins of the broker (see scripts/rabbitmq/broker for their
// permissions).
const (
	NodeUser   = "tutti-node"
	ClientUser = "tutti-client"
	AdminUser  = "tutti-admin"
)

// VHost is the broker's virtual host; Collective the collective whose
// exchanges exist from the start.
const (
	VHost      = "/mcollective"
	Collective = "mcollective"
)

// StartTimeout bounds a start of the broker.
const StartTimeout = 90 * time.Second

// Available reports why RabbitMQ cannot run here, or nil.
func Available() error {
	if _, err := os.Stat(filepath.Join(Bin(), "rabbitmq-server")); err != nil {
		return fmt.Errorf("RabbitMQ is not installed (%v); run scripts/rabbitmq/install", err)
	}
	for _, tool := range []string{"epmd", "setpriv"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found: %v", tool, err)
		}
	}
	_, err := brokerScript()
	return err
}

// Broker is a running RabbitMQ.
type Broker struct {
	// PKI is the CA the broker trusts for clients and that signed its
	// certificate (valid for localhost and 127.0.0.1).
	PKI *x509test.PKI
	// Host and SSLPort are the STOMP+SSL listener; MgmtPort the
	// management API (plain HTTP), all on 127.0.0.1.
	Host              string
	SSLPort, MgmtPort int
	// Passwords of NodeUser, ClientUser and AdminUser.
	NodePassword, ClientPassword, AdminPassword string
	// Dir holds conf/, log/ and mnesia/.
	Dir string

	mu  sync.Mutex
	cmd *exec.Cmd
	out *syncBuffer
	// exited is closed when cmd ends.
	exited chan struct{}
	// declared are the collectives whose exchanges exist.
	declared map[string]bool
}

// syncBuffer is the broker's console output, written by exec's copier.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Start sets up a directory and starts a broker in it.
func Start() (*Broker, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	pki, err := x509test.New("tutti RabbitMQ test CA")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "tutti-rabbitmq-")
	if err != nil {
		return nil, err
	}
	b := &Broker{PKI: pki, Host: "127.0.0.1", Dir: dir,
		NodePassword: secret(), ClientPassword: secret(), AdminPassword: secret(),
		declared: map[string]bool{Collective: true}}
	if err := b.setup(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := b.start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return b, nil
}

func secret() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (b *Broker) setup() error {
	certPEM, keyPEM, err := b.PKI.IssuePEM("rabbitmq", "localhost", "127.0.0.1")
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{"ca.pem": b.PKI.CertPEM(), "broker.pem": certPEM, "broker.key": keyPEM} {
		if err := os.WriteFile(filepath.Join(b.Dir, name), data, 0o600); err != nil {
			return err
		}
	}
	ports := make([]int, 4)
	for i := range ports {
		if ports[i], err = freeport.Get(); err != nil {
			return err
		}
	}
	b.SSLPort, b.MgmtPort = ports[0], ports[1]
	if err := os.MkdirAll(filepath.Join(b.Dir, "conf"), 0o700); err != nil {
		return err
	}
	env := fmt.Sprintf("STOMP_SSL_PORT=%d\nMGMT_PORT=%d\nEPMD_PORT=%d\nDIST_PORT=%d\nVHOST=%s\nCOLLECTIVES=%s\n"+
		"NODE_PASSWORD=%s\nCLIENT_PASSWORD=%s\nADMIN_PASSWORD=%s\n",
		ports[0], ports[1], ports[2], ports[3], VHost, Collective, b.NodePassword, b.ClientPassword, b.AdminPassword)
	if err := os.WriteFile(filepath.Join(b.Dir, "conf", "tutti.env"), []byte(env), 0o600); err != nil {
		return err
	}
	script, err := brokerScript()
	if err != nil {
		return err
	}
	if out, err := exec.Command(script, "setup", b.Dir).CombinedOutput(); err != nil {
		return fmt.Errorf("%s setup: %w: %s", script, err, out)
	}
	return nil
}

// start runs the broker and waits until its STOMP+SSL port accepts.
func (b *Broker) start() error {
	script, err := brokerScript()
	if err != nil {
		return err
	}
	cmd := exec.Command(script, "run", b.Dir)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	// The script execs the Erlang VM, whose epmd ends with it: the
	// broker dies with the test binary.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start RabbitMQ: %w", err)
	}
	exited := make(chan struct{})
	var werr error
	go func() { werr = cmd.Wait(); close(exited) }()
	addr := net.JoinHostPort(b.Host, strconv.Itoa(b.SSLPort))
	deadline := time.Now().Add(StartTimeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			break
		}
		select {
		case <-exited:
			return fmt.Errorf("RabbitMQ exited before listening on %s: %v\n%s%s", addr, werr, out.String(), b.logTail())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
			return fmt.Errorf("RabbitMQ did not listen on %s within %v:\n%s%s", addr, StartTimeout, out.String(), b.logTail())
		}
	}
	b.mu.Lock()
	b.cmd, b.out, b.exited = cmd, out, exited
	b.mu.Unlock()
	return nil
}

// logTail is the end of the broker's log file, for failure messages.
func (b *Broker) logTail() string {
	data, err := os.ReadFile(filepath.Join(b.Dir, "log", "tutti@localhost.log"))
	if err != nil {
		return ""
	}
	const keep = 4000
	if len(data) > keep {
		data = data[len(data)-keep:]
	}
	return "\nlog:\n" + string(data)
}

// stopProcess stops the broker: TERM to its process group (a clean
// shutdown when graceful), then KILL after 20s.
func (b *Broker) stopProcess(graceful bool) {
	b.mu.Lock()
	cmd, exited := b.cmd, b.exited
	b.cmd = nil
	b.mu.Unlock()
	if cmd == nil {
		return
	}
	sig := syscall.SIGKILL
	if graceful {
		sig = syscall.SIGTERM
	}
	_ = syscall.Kill(-cmd.Process.Pid, sig)
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
}

// Restart stops the broker and starts it again on the same ports; users,
// exchanges and durable queues survive.
func (b *Broker) Restart() error {
	b.stopProcess(true)
	return b.start()
}

// Stop stops the broker and removes its directory.
func (b *Broker) Stop() {
	b.stopProcess(false)
	_ = os.RemoveAll(b.Dir)
}

// Output is what the broker printed so far (for failure messages).
func (b *Broker) Output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.out == nil {
		return ""
	}
	return b.out.String() + b.logTail()
}

// DeclareCollective declares a collective's exchanges (<c>_broadcast of
// type topic, <c>_directed and <c>_reply of type direct) through the
// management API, as an administrator does once per collective. Known
// collectives are skipped.
func (b *Broker) DeclareCollective(ctx context.Context, collective string) error {
	b.mu.Lock()
	done := b.declared[collective]
	b.mu.Unlock()
	if done {
		return nil
	}
	for _, x := range []struct{ suffix, kind string }{{"_broadcast", "topic"}, {"_directed", "direct"}, {"_reply", "direct"}} {
		if err := b.declareExchange(ctx, collective+x.suffix, x.kind); err != nil {
			return err
		}
	}
	b.mu.Lock()
	b.declared[collective] = true
	b.mu.Unlock()
	return nil
}

// declareExchange PUTs one durable exchange, retrying while the
// management listener is still starting.
func (b *Broker) declareExchange(ctx context.Context, name, kind string) error {
	u := fmt.Sprintf("http://%s/api/exchanges/%s/%s", net.JoinHostPort(b.Host, strconv.Itoa(b.MgmtPort)),
		url.PathEscape(VHost), url.PathEscape(name))
	body := `{"type":"` + kind + `","durable":true}`
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, strings.NewReader(body))
		if err != nil {
			return err
		}
		req.SetBasicAuth(AdminUser, b.AdminPassword)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1000))
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return nil
			}
			return fmt.Errorf("declare exchange %s: %s: %s", name, resp.Status, msg)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("declare exchange %s: %w (last error: %w)", name, ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// scriptsDir finds scripts/rabbitmq above the working directory (tests
// run in their package directory).
func scriptsDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			s := filepath.Join(dir, "scripts", "rabbitmq")
			if _, err := os.Stat(filepath.Join(s, "broker")); err != nil {
				return "", fmt.Errorf("scripts/rabbitmq not found in module root %s: %w", dir, err)
			}
			return s, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory; cannot find scripts/rabbitmq")
		}
		dir = parent
	}
}

func brokerScript() (string, error) {
	d, err := scriptsDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "broker"), nil
}

// Shared is one broker for a test package, started on first use.
type Shared struct {
	once sync.Once
	b    *Broker
	err  error
}

// Main runs the package's tests and stops the broker afterwards.
func (s *Shared) Main(m *testing.M) int {
	code := m.Run()
	s.Stop()
	return code
}

// Stop stops the broker if it was started, for a TestMain that runs
// the tests itself (another broker's Main).
func (s *Shared) Stop() {
	if s.b != nil {
		s.b.Stop()
	}
}

// Broker returns the package's broker, starting it on first use. When
// RabbitMQ is not installed it skips t (fails with
// TUTTI_REQUIRE_RABBITMQ=1); when it is installed but does not start, it
// fails t.
func (s *Shared) Broker(t testing.TB) *Broker {
	t.Helper()
	if err := Available(); err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%s=1 but %v", RequireEnv, err)
		}
		t.Skipf("skipping: %v (set %s=1 to fail instead)", err, RequireEnv)
	}
	s.once.Do(func() { s.b, s.err = Start() })
	if s.err != nil {
		t.Fatalf("start RabbitMQ: %v", s.err)
	}
	return s.b
}
