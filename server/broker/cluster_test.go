package broker_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/server/broker"
	"github.com/tuttifleet/tutti/server/broker/brokertest"
)

// clusterLinks are the brokers' certificate names of the cluster tests.
var clusterLinks = []string{`^(a|b|c|intruder)$`}

func clusterConfig(t *testing.T, pki *brokertest.PKI, name string, peers ...string) broker.Config {
	cfg := brokertest.Config(t, pki, name)
	cfg.PeerPort = -1
	cfg.Peers = peers
	cfg.LinkCertificates = clusterLinks
	return cfg
}

// peers is the set of other servers b has a route to.
func peers(t *testing.T, b *broker.Broker) map[string]bool {
	t.Helper()
	rz, err := b.Server().Routez(&server.RoutezOptions{})
	if err != nil {
		t.Fatalf("routez: %v", err)
	}
	out := map[string]bool{}
	for _, r := range rz.Routes {
		out[r.RemoteName] = true
	}
	return out
}

func waitMesh(t *testing.T, brokers map[string]*broker.Broker) {
	t.Helper()
	brokertest.Eventually(t, 20*time.Second, func() error {
		for name, b := range brokers {
			got := peers(t, b)
			for other := range brokers {
				if other != name && !got[other] {
					return fmt.Errorf("%s has no route to %s (routes: %v)", name, other, got)
				}
			}
		}
		return nil
	})
}

// TestThreeBrokerCluster: a node on broker A answers a client on broker C.
func TestThreeBrokerCluster(t *testing.T) {
	pki := brokertest.NewPKI(t, "ca")
	a := brokertest.Start(t, clusterConfig(t, pki, "a"))
	if a.ClusterURL() == "" {
		t.Fatal("no cluster URL with PeerPort set")
	}
	// B lists itself too, as a shared config file would.
	b := brokertest.Start(t, clusterConfig(t, pki, "b", a.ClusterURL()))
	c := brokertest.Start(t, clusterConfig(t, pki, "c", a.ClusterURL(), b.ClusterURL()))
	waitMesh(t, map[string]*broker.Broker{"a": a, "b": b, "c": c})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	node, err := connect(t, a.ClientURL(), pki.ClientTLS(t, "node1"))
	if err != nil {
		t.Fatal(err)
	}
	client, err := connect(t, c.ClientURL(), pki.ClientTLS(t, "client1.mcollective"))
	if err != nil {
		t.Fatal(err)
	}
	// The node echoes each request's payload (its reply-to) back to it.
	directed := connector.Destination{Kind: connector.Directed, Collective: "mcollective", Identity: "node1"}
	if _, err := node.Subscribe(directed, func(m connector.Message) {
		_ = node.Publish(ctx, connector.Destination{Kind: connector.Reply, ReplyTo: string(m.Data)}, m.Data)
	}); err != nil {
		t.Fatal(err)
	}
	replyTo := client.NewReplyTo("mcollective", "choria=client1.mcollective", "req1")
	var mu sync.Mutex
	var replies []string
	if _, err := client.Subscribe(connector.Destination{Kind: connector.Reply, ReplyTo: replyTo}, func(m connector.Message) {
		mu.Lock()
		defer mu.Unlock()
		replies = append(replies, string(m.Data))
	}); err != nil {
		t.Fatal(err)
	}
	// Interest crosses the routes asynchronously: resend until answered.
	brokertest.Eventually(t, 20*time.Second, func() error {
		if err := client.Publish(ctx, directed, []byte(replyTo)); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if len(replies) == 0 {
			return fmt.Errorf("no reply from node1 on broker a")
		}
		if replies[0] != replyTo {
			return fmt.Errorf("reply %q, want %q", replies[0], replyTo)
		}
		return nil
	})
}

// TestClusterRefusesUntrustedPeer: a broker whose certificate comes from
// another CA never joins.
func TestClusterRefusesUntrustedPeer(t *testing.T) {
	pki, rogue := brokertest.NewPKI(t, "ca"), brokertest.NewPKI(t, "rogue")
	acfg := clusterConfig(t, pki, "a")
	log, hook := logtest.NewNullLogger()
	acfg.Log = log.WithField("component", "broker")
	a := brokertest.Start(t, acfg)
	cfg := clusterConfig(t, rogue, "intruder", a.ClusterURL())
	cfg.TLS.RootCAs = pki.Pool // it trusts a; a must not trust it
	brokertest.Start(t, cfg)
	// Wait until a refused the intruder's route, then check a has no
	// route to it.
	brokertest.Eventually(t, 20*time.Second, func() error {
		for _, e := range hook.AllEntries() {
			if strings.Contains(e.Message, "TLS route handshake error") {
				return nil
			}
		}
		return fmt.Errorf("no refused route handshake logged yet")
	})
	if got := peers(t, a); len(got) != 0 {
		t.Errorf("a has routes %v, want none", got)
	}
}

// TestClusterRefusesNodeCertificateAsPeer: the fleet CA signs node
// certificates too; one of them, valid for TLS, cannot join the cluster
// as a broker (which would let it read and write every subject): a
// route needs a link certificate, both ways.
func TestClusterRefusesNodeCertificateAsPeer(t *testing.T) {
	pki := brokertest.NewPKI(t, "ca")
	acfg := clusterConfig(t, pki, "a")
	log, hook := logtest.NewNullLogger()
	acfg.Log = log.WithField("component", "broker")
	a := brokertest.Start(t, acfg)
	// a broker run with a node's certificate, trusting the same CA and
	// accepting any name itself
	cfg := clusterConfig(t, pki, "node1.example.net", a.ClusterURL())
	cfg.LinkCertificates = []string{"."}
	brokertest.Start(t, cfg)
	brokertest.Eventually(t, 20*time.Second, func() error {
		for _, e := range hook.AllEntries() {
			if strings.Contains(e.Message, "TLS route handshake error") && strings.Contains(e.Message, `"node1.example.net" is not a link certificate`) {
				return nil
			}
		}
		return fmt.Errorf("no refused route handshake naming the certificate logged yet")
	})
	if got := peers(t, a); len(got) != 0 {
		t.Errorf("a has routes %v, want none", got)
	}
}
