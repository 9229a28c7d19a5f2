package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

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
		})
	}
}
