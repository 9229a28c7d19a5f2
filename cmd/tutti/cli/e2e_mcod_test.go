package cli

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/client"
	mcoclient "github.com/tuttifleet/tutti/client/mcollective"
	"github.com/tuttifleet/tutti/cmd/tutti/internal/demo"
	mco "github.com/tuttifleet/tutti/connector/mcollective"
	rm "github.com/tuttifleet/tutti/connector/mcollective/rubymarshal"
	stompconn "github.com/tuttifleet/tutti/connector/stomp"
	"github.com/tuttifleet/tutti/connector/stomp/amqtest"
	"github.com/tuttifleet/tutti/security/mcossl"
)

// TestTuttiClientAgainstMcollectived: tutti's MCollective client
// (client/mcollective) drives Debian's mcollectived 2.12.5 over ActiveMQ
// with the ssl plugin, in both serializers: discovery, rpcutil#ping with
// and without a matching filter, and replies verified with the server key.
func TestTuttiClientAgainstMcollectived(t *testing.T) {
	needMCO(t)
	if _, err := exec.LookPath("mcollectived"); err != nil {
		t.Skip("skipping: mcollectived is not installed (scripts/mcollective/install)")
	}
	b := amq.Broker(t)
	for _, ser := range []mco.Serializer{mco.Marshal, mco.YAML} {
		t.Run(ser.Name(), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			serverPriv, serverPub := writeRSA(t, dir, "server")
			alicePriv, alicePub := writeRSA(t, dir, "alice")
			callers := filepath.Join(dir, "callers")
			pub, _ := os.ReadFile(alicePub)
			if err := writeFile(filepath.Join(callers, "alice.pem"), string(pub), 0o644); err != nil {
				t.Fatal(err)
			}
			name := "mcod-" + ser.Name() + ".example.net"
			collective := "mcod" + ser.Name() // the subtests run side by side on one broker
			if err := writeFile(filepath.Join(dir, "facts.yaml"), "---\nrole: web\ncountry: mt\n", 0o644); err != nil {
				t.Fatal(err)
			}
			cfg := "main_collective = " + collective + "\ncollectives = " + collective + "\nlibdir = /usr/share/mcollective/plugins\n" +
				"logfile = " + filepath.Join(dir, "mcollectived.log") + "\nloglevel = debug\ndaemonize = 0\nidentity = " + name + "\n" +
				brokerLines(b, "", name, amqtest.NodeUser, b.NodePassword, false) +
				"securityprovider = ssl\nplugin.ssl_serializer = " + ser.Name() + "\nplugin.ssl_server_private = " + serverPriv + "\n" +
				"plugin.ssl_server_public = " + serverPub + "\nplugin.ssl_client_cert_dir = " + callers + "\n" +
				"factsource = yaml\nplugin.yaml = " + filepath.Join(dir, "facts.yaml") + "\nclassesfile = " + filepath.Join(dir, "classes.txt") + "\n" +
				"rpcauthorization = 0\n"
			if err := writeFile(filepath.Join(dir, "server.cfg"), cfg, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := writeFile(filepath.Join(dir, "classes.txt"), "base\n", 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			cmd := exec.CommandContext(ctx, "mcollectived", "--config", filepath.Join(dir, "server.cfg"), "--pidfile", filepath.Join(dir, "pid"), "--no-daemonize")
			out := &demo.LogBuffer{} // written by exec's copier while the test reads it
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cancel(); _ = cmd.Wait() })
			daemonLog := func() string {
				l, _ := os.ReadFile(filepath.Join(dir, "mcollectived.log"))
				return strings.Join(out.Lines(""), "\n") + string(l)
			}

			log := logrus.New()
			log.SetOutput(os.Stderr)
			conn, err := stompconn.Connect(context.Background(), stompconn.Config{Name: "tutti-client",
				Brokers: []stompconn.Broker{{Host: b.Host, Port: b.Port, User: amqtest.ClientUser, Password: b.ClientPassword, Plain: true}},
				Log:     logrus.NewEntry(log)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			key, err := mcossl.LoadPrivateKey(alicePriv)
			if err != nil {
				t.Fatal(err)
			}
			spub, err := mcossl.LoadPublicKey(serverPub)
			if err != nil {
				t.Fatal(err)
			}
			c, err := mcoclient.New(mcoclient.Options{Connector: conn, Serializer: ser, Key: key, Caller: "cert=alice", ServerKey: spub,
				Sender: "tutti-client", Collective: collective, Log: logrus.NewEntry(log)})
			if err != nil {
				t.Fatal(err)
			}
			var found []mcoclient.Reply
			for deadline := time.Now().Add(40 * time.Second); len(found) == 0 && time.Now().Before(deadline); {
				if found, err = c.Ping(context.Background(), mco.Filter{}, 2*time.Second); err != nil {
					t.Fatal(err)
				}
			}
			if len(found) != 1 || !found[0].Pong || found[0].Sender != name {
				t.Fatalf("discovery: %+v\nmcollectived:\n%s", found, daemonLog())
			}
			r, err := c.RPC(context.Background(), "rpcutil", "ping", nil,
				mco.Filter{Fact: []mco.FactFilter{{Fact: "role", Operator: "==", Value: "web"}}, Agent: []string{"rpcutil"}}, 3*time.Second)
			if err != nil || len(r) != 1 || r[0].Body == nil || r[0].Body.StatusCode != 0 {
				t.Fatalf("rpcutil ping: %+v %v\nmcollectived:\n%s", r, err, daemonLog())
			}
			if pong, _ := r[0].Body.Data.(*rm.Hash).Get(rm.Symbol("pong")); pong == nil {
				t.Fatalf("no pong: %#v", r[0].Body.Data)
			}
			none, err := c.RPC(context.Background(), "rpcutil", "ping", nil, mco.Filter{Identity: []string{"other.example.net"}}, 2*time.Second)
			if err != nil || len(none) != 0 {
				t.Fatalf("filtered out: %+v %v", none, err)
			}
			if !strings.Contains(daemonLog(), "cert=alice") {
				t.Logf("mcollectived log does not name the caller:\n%s", daemonLog())
			}

			clientConf := "identity = tutti-client\nmain_collective = " + collective + "\ncollectives = " + collective + "\n" +
				brokerLines(b, "", "tutti-client", amqtest.ClientUser, b.ClientPassword, false) +
				"securityprovider = ssl\nplugin.ssl_serializer = " + ser.Name() + "\nplugin.ssl_server_public = " + serverPub + "\n" +
				"plugin.ssl_client_private = " + alicePriv + "\nplugin.ssl_client_public = " + alicePub + "\n"
			cliCfg := filepath.Join(dir, "client.cfg")
			if err := writeFile(cliCfg, clientConf, 0o644); err != nil {
				t.Fatal(err)
			}
			// a key that is not the site's server key: every reply is refused
			_, otherPub := writeRSA(t, dir, "other")
			forged := filepath.Join(dir, "forged.cfg")
			if err := writeFile(forged, strings.Replace(clientConf, serverPub, otherPub, 1), 0o644); err != nil {
				t.Fatal(err)
			}
			checkTuttiCLIOnMcollectived(t, cliCfg, forged, name, daemonLog)
		})
	}
}

// checkTuttiCLIOnMcollectived runs the tutti CLI with securityprovider =
// ssl (cfg) against one mcollectived named name: ping and rpc with each
// filter kind, in the output modes, and with forged (another server
// key) every reply refused with exit 3.
func checkTuttiCLIOnMcollectived(t *testing.T, cfg, forged, name string, daemonLog func() string) {
	t.Helper()
	code, out, stderr := runCLI(t, "ping", "--config", cfg, "--json", "--expect", "1")
	var ping pingDoc
	if err := json.Unmarshal([]byte(out), &ping); err != nil || code != ExitOK {
		t.Fatalf("tutti ping: exit %d %v\n%s\n%s\nmcollectived:\n%s", code, err, out, stderr, daemonLog())
	}
	if len(ping.Replies) != 1 || ping.Replies[0].Sender != name || ping.Replies[0].State != client.Verified {
		t.Fatalf("tutti ping: %+v", ping)
	}
	code, out, stderr = runCLI(t, "ping", "--config", cfg, "-F", "country=mt", "--with-agent", "rpcutil", "--expect", "1")
	if code != ExitOK || !strings.Contains(out, name) || !strings.Contains(out, "1 replies") {
		t.Fatalf("tutti ping (human): exit %d\n%s\n%s", code, out, stderr)
	}
	for _, filter := range [][]string{{"-F", "role=web"}, {"-C", "base"}, {"-I", name}, {"-A", "rpcutil", "-F", "country=mt"}, {"-I", "/^mcod-/"}} {
		args := append([]string{"rpc", "rpcutil", "ping", "--config", cfg, "--json"}, filter...)
		code, out, stderr = runCLI(t, args...)
		var doc struct {
			Replies []struct {
				Sender     string         `json:"sender"`
				StatusCode int            `json:"statuscode"`
				Data       map[string]any `json:"data"`
			} `json:"replies"`
			Stats rpcStats `json:"stats"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil || code != ExitOK {
			t.Fatalf("tutti rpc %v: exit %d %v\n%s\n%s", filter, code, err, out, stderr)
		}
		if len(doc.Replies) != 1 || doc.Replies[0].Sender != name || doc.Replies[0].StatusCode != 0 || doc.Replies[0].Data["pong"] == nil ||
			doc.Stats.OK != 1 {
			t.Fatalf("tutti rpc %v: %s", filter, out)
		}
	}
	code, out, stderr = runCLI(t, "discover", "--config", cfg, "-W", "role=web base")
	if code != ExitOK || !strings.Contains(out, name) {
		t.Fatalf("tutti discover -W: exit %d\n%s\n%s", code, out, stderr)
	}
	code, out, stderr = runCLI(t, "facts", "country", "--config", cfg)
	if code != ExitOK || !strings.Contains(out, "mt  found 1 time") {
		t.Fatalf("tutti facts country: exit %d\n%s\n%s", code, out, stderr)
	}
	code, out, stderr = runCLI(t, "ping", "--config", cfg, "-S", "role=web")
	if code == ExitOK || !strings.Contains(stderr, "compound filters (-S) are not supported towards MCollective nodes") {
		t.Fatalf("tutti ping -S: exit %d\n%s\n%s", code, out, stderr)
	}
	code, out, stderr = runCLI(t, "rpc", "rpcutil", "ping", "--config", cfg, "-F", "role=db")
	if code != ExitNoReplies {
		t.Fatalf("tutti rpc -F role=db: exit %d, want %d\n%s\n%s", code, ExitNoReplies, out, stderr)
	}
	code, out, stderr = runCLI(t, "ping", "--config", forged, "--json")
	if err := json.Unmarshal([]byte(out), &ping); err != nil || code != ExitRefused {
		t.Fatalf("tutti ping, other server key: exit %d (want %d) %v\n%s\n%s", code, ExitRefused, err, out, stderr)
	}
	if len(ping.Replies) != 0 || len(ping.Refused) != 1 || ping.Refused[0].Sender != name || ping.Stats.RefusedReasons["bad signature"] != 1 {
		t.Fatalf("tutti ping, other server key: %s", out)
	}
	code, out, stderr = runCLI(t, "rpc", "rpcutil", "ping", "--config", forged)
	if code != ExitRefused || !strings.Contains(stderr, "bad signature") {
		t.Fatalf("tutti rpc, other server key: exit %d (want %d)\n%s\n%s", code, ExitRefused, out, stderr)
	}
}
