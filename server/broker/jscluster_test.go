package broker_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tuttifleet/tutti/security/revocation"
	"github.com/tuttifleet/tutti/server/broker"
	"github.com/tuttifleet/tutti/server/broker/brokertest"
)

// freeRoutePorts reserves n loopback ports for cluster listeners, so
// that every broker's Peers can list them all, as one shared
// configuration file would.
func freeRoutePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// jsCluster starts n brokers with JetStream, each with its own store,
// listing every broker's cluster port (itself included) in Peers.
func jsCluster(t *testing.T, pki *brokertest.PKI, n, replicas int) []*broker.Broker {
	t.Helper()
	ports := freeRoutePorts(t, n)
	var peerURLs []string
	for _, p := range ports {
		peerURLs = append(peerURLs, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	brokers := make([]*broker.Broker, n)
	for i := range n {
		cfg := brokertest.Config(t, pki, fmt.Sprintf("broker%d.example.net", i))
		cfg.PeerPort = ports[i]
		cfg.Peers = peerURLs
		cfg.LinkCertificates = []string{`^broker[0-9]+\.example\.net$`}
		cfg.JetStreamDir = t.TempDir()
		cfg.AuditStream.Replicas = replicas
		brokers[i] = brokertest.Start(t, cfg)
	}
	return brokers
}

func internalJS(t *testing.T, b *broker.Broker) jetstream.JetStream {
	t.Helper()
	nc, err := b.InternalConn()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// TestJetStreamCluster: three brokers elect a JetStream meta leader,
// create the audit stream and the revocation buckets with three replicas,
// a record published through one broker is read through another, and
// the stream stays available with one broker stopped.
func TestJetStreamCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("JetStream cluster election takes a few seconds")
	}
	pki := brokertest.NewPKI(t, "ca")
	bs := jsCluster(t, pki, 3, 3)
	for i, b := range bs {
		select {
		case <-b.AuditStreamReady():
		case <-time.After(60 * time.Second):
			t.Fatalf("broker %d: the audit stream was not created (meta leader %q)", i, metaLeader(b))
		}
		select {
		case <-b.CRLBucketReady():
		case <-time.After(30 * time.Second):
			t.Fatalf("broker %d: the revocation buckets were not created", i)
		}
	}
	// one meta leader, the same for all
	brokertest.Eventually(t, 10*time.Second, func() error {
		leaders := map[string]bool{}
		for _, b := range bs {
			leaders[metaLeader(b)] = true
		}
		if len(leaders) != 1 || leaders[""] {
			return fmt.Errorf("meta leaders %v, want one", leaders)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	js2 := internalJS(t, bs[2])
	for _, name := range []string{broker.DefaultAuditStreamName, "KV_" + revocation.CRLBucket, "KV_" + revocation.TokenBucket} {
		s, err := js2.Stream(ctx, name)
		if err != nil {
			t.Fatalf("stream %s via broker 2: %v", name, err)
		}
		if got := s.CachedInfo().Config.Replicas; got != 3 {
			t.Errorf("stream %s: %d replicas, want 3", name, got)
		}
	}

	// a node publishes its record on broker 0, a reader reads it on broker 2
	node, err := natsgo.Connect(bs[0].ClientURL(), natsgo.Secure(pki.ClientTLS(t, "node1.example.net")))
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	subject := broker.NodeAuditPrefix + "node1.example.net"
	if err := node.Publish(subject, []byte("record 1")); err != nil {
		t.Fatal(err)
	}
	readLast := func(js jetstream.JetStream) (string, error) {
		s, err := js.Stream(ctx, broker.DefaultAuditStreamName)
		if err != nil {
			return "", err
		}
		m, err := s.GetLastMsgForSubject(ctx, subject)
		if err != nil {
			return "", err
		}
		return string(m.Data), nil
	}
	brokertest.Eventually(t, 20*time.Second, func() error {
		got, err := readLast(js2)
		if err != nil {
			return err
		}
		if got != "record 1" {
			return fmt.Errorf("read %q via broker 2, want %q", got, "record 1")
		}
		return nil
	})

	// the stream's leader stops: 2 of 3 replicas remain, a new leader is
	// elected, records are taken through one survivor and read through
	// the other
	info, err := readStream(ctx, js2)
	if err != nil {
		t.Fatal(err)
	}
	var alive []*broker.Broker
	for i, b := range bs {
		if fmt.Sprintf("broker%d.example.net", i) == info.Cluster.Leader {
			b.Shutdown()
			continue
		}
		alive = append(alive, b)
	}
	if len(alive) != 2 {
		t.Fatalf("stream leader %q is none of the brokers", info.Cluster.Leader)
	}
	jsIn, jsOut := internalJS(t, alive[0]), internalJS(t, alive[1])
	brokertest.Eventually(t, 30*time.Second, func() error {
		// an attempt caught by the leader's election goes unanswered
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if _, err := jsIn.Publish(pctx, subject, []byte("record 2"), jetstream.WithMsgID("record 2")); err != nil {
			return fmt.Errorf("publish with the stream leader %s down: %w", info.Cluster.Leader, err)
		}
		return nil
	})
	brokertest.Eventually(t, 30*time.Second, func() error {
		got, err := readLast(jsOut)
		if err != nil {
			return err
		}
		if got != "record 2" {
			return fmt.Errorf("read %q, want %q", got, "record 2")
		}
		return nil
	})
}

func readStream(ctx context.Context, js jetstream.JetStream) (*jetstream.StreamInfo, error) {
	s, err := js.Stream(ctx, broker.DefaultAuditStreamName)
	if err != nil {
		return nil, err
	}
	return s.Info(ctx)
}

// metaLeader is the JetStream meta leader b knows; empty if none.
func metaLeader(b *broker.Broker) string {
	jsz, err := b.Server().Jsz(nil)
	if err != nil || jsz.Meta == nil {
		return ""
	}
	return jsz.Meta.Leader
}
