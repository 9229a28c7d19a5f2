package signertest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"gopkg.in/yaml.v3"

	"github.com/tuttifleet/tutti/aaa/signer"
)

// serveEnv names the environment variable that turns a re-executed test
// binary into a tutti-aaa service reading that configuration file.
const serveEnv = "TUTTI_AAA_TEST_SERVE"

// ProfileEnv names an environment variable: when set, a child started
// by StartProcess writes a CPU profile of the service to that file.
const ProfileEnv = "TUTTI_AAA_TEST_CPUPROFILE"

// urlPrefix starts the line a child writes on stdout once it listens.
const urlPrefix = "tutti-aaa-url "

// ServeChild runs the service, and exits, when this process is a child
// started by StartProcess; otherwise it returns at once. Call it first
// in the TestMain of a package that uses StartProcess.
func ServeChild() {
	path := os.Getenv(serveEnv)
	if path == "" {
		return
	}
	if err := serveChild(path); err != nil {
		fmt.Fprintf(os.Stderr, "tutti-aaa child: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// serveChild serves until SIGTERM, or until stdin closes (the parent
// went away).
func serveChild(path string) error {
	cfg, _, err := signer.LoadConfig(path)
	if err != nil {
		return err
	}
	l := logrus.New()
	l.SetOutput(os.Stderr)
	l.SetLevel(logrus.WarnLevel)
	svc, err := signer.New(cfg, signer.Options{Log: logrus.NewEntry(l), NewSSO: NewSSO})
	if err != nil {
		return err
	}
	signer.ApplyGCDefault() // as tutti-aaa run does
	if prof := os.Getenv(ProfileEnv); prof != "" {
		f, err := os.Create(prof)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	go func() {
		select {
		case <-svc.Ready():
			fmt.Printf("%s%s\n", urlPrefix, svc.URL())
		case <-ctx.Done():
		}
	}()
	return svc.Run(ctx)
}

// StartProcess is Start with the service in a child process (this test
// binary re-executed; its TestMain must call ServeChild), so that a load
// generator in the test process can read the service's CPU time apart
// from its own (e.PID). The child is stopped with SIGTERM when the test
// ends, and must exit cleanly.
func StartProcess(t testing.TB, opts Options) *Env {
	t.Helper()
	if opts.Now != nil || opts.Log != nil {
		t.Fatal("signertest: StartProcess cannot pass Now or Log to a child process")
	}
	e := Prepare(t, opts)
	data, err := yaml.Marshal(e.Config)
	must(t, err)
	path := write(t, e.Dir, "aaa.yaml", data)

	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), serveEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	must(t, err)
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	exited := make(chan error, 1)
	var once sync.Once
	e.stop = func(t testing.TB) {
		once.Do(func() {
			// Unused pooled connections would hold the graceful
			// shutdown for its whole grace period.
			e.Client.CloseIdleConnections()
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("service process: %v", err)
				}
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				t.Errorf("service process did not stop within 10s of SIGTERM")
			}
			_ = stdin.Close()
		})
	}
	t.Cleanup(func() { e.stop(t) })
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), urlPrefix); ok {
				urls <- u
			}
		}
		exited <- cmd.Wait()
	}()
	select {
	case e.URL = <-urls:
	case err := <-exited:
		exited <- err
		t.Fatalf("service process exited before listening: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("service process did not listen within 20s")
	}
	e.PID = cmd.Process.Pid
	return e
}

// StopProcess stops the child StartProcess started (SIGTERM) and waits
// for its clean exit; the test's end does the same.
func (e *Env) StopProcess(t testing.TB) {
	t.Helper()
	if e.stop == nil {
		t.Fatal("signertest: StopProcess without StartProcess")
	}
	e.stop(t)
}

// WriteToken logs user in through the API as tutti login does and
// writes the token file and its seed (token.key) to the Env directory;
// it returns the token file's path.
func (e *Env) WriteToken(t testing.TB, user string) string {
	t.Helper()
	tok, seed := e.Login(t, user)
	path := write(t, e.Dir, user+".token", []byte(tok))
	write(t, e.Dir, user+".key", []byte(fmt.Sprintf("%x", seed.Seed())))
	return filepath.Clean(path)
}
