// Package amqtest runs a real ActiveMQ (Debian's activemq package) for
// tests, with the project's configuration (scripts/activemq/activemq.xml):
// STOMP+SSL on a random loopback port with client certificates from a
// throwaway CA, and users for nodes and clients under an authorization
// map.
//
// Starting ActiveMQ costs seconds, so a test package shares one broker:
//
//	var amq amqtest.Shared
//
//	func TestMain(m *testing.M) { os.Exit(amq.Main(m)) }
//
//	func TestX(t *testing.T) {
//		b := amq.Broker(t) // skips when ActiveMQ is not installed
//		…
//	}
//
// The broker starts on the first Broker call and stops when the tests end.
// Without ActiveMQ (or Java) tests skip with the reason, unless
// TUTTI_REQUIRE_ACTIVEMQ=1 is set (CI), in which case they fail.
package amqtest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/internal/freeport"
	"github.com/tuttifleet/tutti/security/x509/x509test"
)

// RequireEnv, when "1", turns "ActiveMQ is not installed" from a skip
// into a failure.
const RequireEnv = "TUTTI_REQUIRE_ACTIVEMQ"

// Home is where Debian's package installs ActiveMQ (ACTIVEMQ_HOME
// overrides it).
func Home() string {
	if h := os.Getenv("ACTIVEMQ_HOME"); h != "" {
		return h
	}
	return "/usr/share/activemq"
}

// Users of the broker's authentication plugin (see activemq.xml).
const (
	NodeUser   = "tutti-node"   // group nodes
	ClientUser = "tutti-client" // group clients
	AdminUser  = "tutti-admin"  // group admins
)

// Available reports why ActiveMQ cannot run here, or nil.
func Available() error {
	if _, err := os.Stat(filepath.Join(Home(), "bin", "activemq.jar")); err != nil {
		return fmt.Errorf("ActiveMQ is not installed (%v); run scripts/activemq/install", err)
	}
	for _, tool := range []string{"java", "keytool", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found: %v", tool, err)
		}
	}
	if _, err := scriptsDir(); err != nil {
		return err
	}
	return nil
}

// Broker is a running ActiveMQ.
type Broker struct {
	// PKI is the CA the broker trusts for clients and that signed its
	// certificate (valid for localhost and 127.0.0.1).
	PKI *x509test.PKI
	// Host and SSLPort are the STOMP+SSL listener; Port the plain STOMP
	// one (both on 127.0.0.1).
	Host          string
	SSLPort, Port int
	// Passwords of NodeUser, ClientUser and AdminUser.
	NodePassword, ClientPassword, AdminPassword string
	// Dir holds conf/ and data/ (activemq.log, console.log).
	Dir string

	mu  sync.Mutex
	cmd *exec.Cmd
	out *syncBuffer
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
	pki, err := x509test.New("tutti ActiveMQ test CA")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "tutti-activemq-")
	if err != nil {
		return nil, err
	}
	b := &Broker{PKI: pki, Host: "127.0.0.1", Dir: dir,
		NodePassword: secret(), ClientPassword: secret(), AdminPassword: secret()}
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
	certPEM, keyPEM, err := b.PKI.IssuePEM("activemq", "localhost", "127.0.0.1")
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{"ca.pem": b.PKI.CertPEM(), "broker.pem": certPEM, "broker.key": keyPEM} {
		if err := os.WriteFile(filepath.Join(b.Dir, name), data, 0o600); err != nil {
			return err
		}
	}
	if b.SSLPort, err = freeport.Get(); err != nil {
		return err
	}
	if b.Port, err = freeport.Get(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(b.Dir, "conf"), 0o700); err != nil {
		return err
	}
	props := fmt.Sprintf("tutti.stomp.port=%d\ntutti.stomp.ssl.port=%d\ntutti.keystore.password=%s\n"+
		"tutti.node.password=%s\ntutti.client.password=%s\ntutti.admin.password=%s\n",
		b.Port, b.SSLPort, secret(), b.NodePassword, b.ClientPassword, b.AdminPassword)
	if err := os.WriteFile(filepath.Join(b.Dir, "conf", "tutti.properties"), []byte(props), 0o600); err != nil {
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
	// The script execs java: the broker dies with the test binary.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start ActiveMQ: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	addr := net.JoinHostPort(b.Host, strconv.Itoa(b.SSLPort))
	deadline := time.Now().Add(90 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			break
		}
		select {
		case werr := <-exited:
			return fmt.Errorf("ActiveMQ exited before listening on %s: %v\n%s", addr, werr, out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			return fmt.Errorf("ActiveMQ did not listen on %s within 90s:\n%s", addr, out.String())
		}
	}
	b.mu.Lock()
	b.cmd, b.out = cmd, out
	b.mu.Unlock()
	go func() {
		// reap; the exit status is of no interest once stopped
		<-exited
	}()
	return nil
}

// stopProcess stops the broker: SIGTERM, then SIGKILL after 10s.
func (b *Broker) stopProcess() {
	b.mu.Lock()
	cmd := b.cmd
	b.cmd = nil
	b.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	addr := net.JoinHostPort(b.Host, strconv.Itoa(b.SSLPort))
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cmd.Process.Signal(syscall.Signal(0)) != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	// wait until the port is free again
	for i := 0; i < 100; i++ {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			return
		}
		_ = c.Close()
		time.Sleep(50 * time.Millisecond)
	}
}

// Restart stops the broker and starts it again on the same ports.
func (b *Broker) Restart() error {
	b.stopProcess()
	return b.start()
}

// Stop stops the broker and removes its directory.
func (b *Broker) Stop() {
	b.stopProcess()
	_ = os.RemoveAll(b.Dir)
}

// Output is what the broker printed so far (for failure messages).
func (b *Broker) Output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.out == nil {
		return ""
	}
	return b.out.String()
}

// scriptsDir finds scripts/activemq above the working directory (tests
// run in their package directory).
func scriptsDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			s := filepath.Join(dir, "scripts", "activemq")
			if _, err := os.Stat(filepath.Join(s, "activemq.xml")); err != nil {
				return "", fmt.Errorf("scripts/activemq not found in module root %s: %w", dir, err)
			}
			return s, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory; cannot find scripts/activemq")
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
	if s.b != nil {
		s.b.Stop()
	}
	return code
}

// Broker returns the package's broker, starting it on first use. When
// ActiveMQ is not installed it skips t (fails with TUTTI_REQUIRE_ACTIVEMQ=1);
// when it is installed but does not start, it fails t.
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
		t.Fatalf("start ActiveMQ: %v", s.err)
	}
	return s.b
}
