package daemon_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/aaa/actionpolicy"
	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/server/facts"
)

// The sample configuration the packages install under /etc/tutti must
// load without errors or warnings and mean what the docs say.
func TestPackagedSampleConfigs(t *testing.T) {
	dist, err := filepath.Abs(filepath.Join("..", "..", "dist", "config"))
	if err != nil {
		t.Fatal(err)
	}
	s, f, err := config.LoadServer(filepath.Join(dist, "server.conf"))
	if err != nil {
		t.Fatalf("server.conf: %v", err)
	}
	if w := f.Warnings(); len(w) > 0 {
		t.Errorf("server.conf warnings: %v", w)
	}
	if !s.Authorization.Enabled || !s.Audit.Enabled || s.StatsPort != 0 || s.Security.CertFile != "/etc/tutti/pki/node.pem" ||
		s.Authorization.PolicyDir != filepath.Join(dist, "policies") { // <configdir>/policies: /etc/tutti/policies when installed
		t.Errorf("server.conf: authorization %v audit %v metrics port %d cert %s policies %s",
			s.Authorization.Enabled, s.Audit.Enabled, s.StatsPort, s.Security.CertFile, s.Authorization.PolicyDir)
	}
	b, f, err := config.LoadBroker(filepath.Join(dist, "broker.conf"))
	if err != nil {
		t.Fatalf("broker.conf: %v", err)
	}
	if w := f.Warnings(); len(w) > 0 {
		t.Errorf("broker.conf warnings: %v", w)
	}
	if b.ClientPort != 4222 || b.MetricsPort != 0 || b.MetricsAddress != "127.0.0.1" {
		t.Errorf("broker.conf: %+v", b)
	}
	if _, f, err = config.LoadClient(filepath.Join(dist, "client.conf")); err != nil || len(f.Warnings()) > 0 {
		t.Errorf("client.conf: %v %v", err, f.Warnings())
	}
	fs, err := facts.Load([]string{filepath.Join(dist, "facts.yaml")}, "", logrus.NewEntry(logrus.New()))
	if err != nil || len(fs.Facts()) != 0 {
		t.Errorf("facts.yaml: %v %v", err, fs)
	}

	// the sample policy lets anyone ping and nobody else do anything
	l := logrus.New()
	l.SetOutput(io.Discard)
	a, err := actionpolicy.New(actionpolicy.Config{Dir: filepath.Join(dist, "policies")}, logrus.NewEntry(l))
	if err != nil {
		t.Fatal(err)
	}
	for action, want := range map[string]bool{"ping": true, "inventory": false, "get_fact": false} {
		d := a.Authorize(actionpolicy.Request{CallerID: "choria=alice.mcollective", Agent: "rpcutil", Action: action})
		if d.Allowed != want {
			t.Errorf("rpcutil#%s allowed=%v (%s), want %v", action, d.Allowed, d.Reason, want)
		}
	}
}

// The units are Type=notify with a watchdog and reload by SIGHUP.
func TestSystemdUnits(t *testing.T) {
	for _, u := range []string{"tuttid.service", "tutti-broker.service", "tutti-aaa.service"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "dist", "systemd", u))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"Type=notify\n", "WatchdogSec=", "ExecReload=/bin/kill -HUP $MAINPID\n", "Restart=on-failure\n", "NoNewPrivileges=yes\n"} {
			if !strings.Contains(string(b), want) {
				t.Errorf("%s lacks %q", u, strings.TrimSpace(want))
			}
		}
		// Limits and the stop are explicit, not systemd's defaults.
		for _, key := range []string{"LimitNOFILE=", "TasksMax=", "KillMode="} {
			if n := strings.Count("\n"+string(b), "\n"+key); n != 1 {
				t.Errorf("%s sets %s %d times, want once", u, strings.TrimSuffix(key, "="), n)
			}
		}
		// tuttid's actions get their soft shutdown (SIGTERM to tuttid
		// alone), then what is left of its agents is killed.
		if u == "tuttid.service" && !strings.Contains(string(b), "\nKillMode=mixed\n") {
			t.Errorf("%s lacks KillMode=mixed", u)
		}
		if u != "tuttid.service" && !strings.Contains(string(b), "User=tutti\n") {
			t.Errorf("%s does not run as the tutti user", u)
		}
	}
}
