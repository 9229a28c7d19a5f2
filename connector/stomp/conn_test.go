package stomp_test

import (
	"context"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/conformance"
	"github.com/tuttifleet/tutti/connector/stomp"
	"github.com/tuttifleet/tutti/internal/freeport"
	"github.com/tuttifleet/tutti/server/broker/brokertest"
)

func TestConnectConfigRefusals(t *testing.T) {
	pki := brokertest.NewPKI(t, "ca")
	good := pki.ClientTLS(t, "c1")
	insecure := good.Clone()
	insecure.InsecureSkipVerify = true
	log := brokertest.Logger("test")
	broker := func(tlsc bool) []stomp.Broker {
		b := stomp.Broker{Host: "127.0.0.1", Port: 1}
		if tlsc {
			b.TLS = good
		}
		return []stomp.Broker{b}
	}
	conformance.CheckRefusals(t, func(ctx context.Context, cfg stomp.Config) (io.Closer, error) {
		return stomp.Connect(ctx, cfg)
	}, []conformance.Refusal[stomp.Config]{
		{Name: "no TLS", Config: stomp.Config{Brokers: broker(false), Log: log}, Reason: "TLS is required"},
		{Name: "insecure TLS", Config: stomp.Config{Brokers: []stomp.Broker{{Host: "h", Port: 1, TLS: insecure}}, Log: log}, Reason: "InsecureSkipVerify"},
		{Name: "no brokers", Config: stomp.Config{Log: log}, Reason: "no brokers"},
		{Name: "empty host", Config: stomp.Config{Brokers: []stomp.Broker{{Host: " ", Port: 1, TLS: good}}, Log: log}, Reason: "empty host"},
		{Name: "bad port", Config: stomp.Config{Brokers: []stomp.Broker{{Host: "h", Port: 0, TLS: good}}, Log: log}, Reason: "bad port"},
		{Name: "no logger", Config: stomp.Config{Brokers: broker(true)}, Reason: "logger"},
	})
}

// A broker that is down at start: Connect keeps trying until its context
// ends, then names the broker and the cause.
func TestConnectBrokerDownNamesBrokerAndRetries(t *testing.T) {
	pki := brokertest.NewPKI(t, "ca")
	port := freeport.Must(t)
	cfg := stomp.Config{
		Brokers: []stomp.Broker{{Host: "127.0.0.1", Port: port, TLS: pki.ClientTLS(t, "n1")}},
		Log:     brokertest.Logger("stomp"), MaxReconnectDelay: 100 * time.Millisecond,
	}
	_, err := connect(t, cfg, 1500*time.Millisecond)
	conformance.CheckGaveUp(t, err, "stomp+ssl://127.0.0.1:"+strconv.Itoa(port))
	if strings.Contains(err.Error(), "after 1 attempts") {
		t.Errorf("error %q: want several attempts within 1.5s", err)
	}
}

// The pool fails over: the first broker is down, the second answers.
func TestPoolFailover(t *testing.T) {
	b := amq.Broker(t)
	cfg := config(t, b, "node-failover")
	dead := cfg.Brokers[0]
	dead.Port = freeport.Must(t)
	cfg.Brokers = append([]stomp.Broker{dead}, cfg.Brokers...)
	var states atomic.Int32
	cfg.OnStateChange = func(up bool) {
		if up {
			states.Add(1)
		}
	}
	c := mustConnect(t, cfg)
	if states.Load() != 1 {
		t.Errorf("OnStateChange(true) called %d times, want 1", states.Load())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatalf("flush on the second broker: %v", err)
	}
}

func TestWrongPasswordNamesBroker(t *testing.T) {
	b := amq.Broker(t)
	cfg := config(t, b, "node-badpw")
	cfg.Brokers[0].Password = "not-the-password"
	_, err := connect(t, cfg, 2*time.Second)
	if err == nil {
		t.Fatal("connected with a wrong password")
	}
	for _, want := range []string{cfg.Brokers[0].URL(), "refused the connection", `login "tutti-node"`, "password is invalid"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestTLSNameMismatch(t *testing.T) {
	b := amq.Broker(t)
	cfg := config(t, b, "node-mismatch")
	cfg.Brokers[0].TLS.ServerName = "mq.elsewhere.example"
	_, err := connect(t, cfg, 2*time.Second)
	if err == nil {
		t.Fatal("connected although the broker certificate is not for mq.elsewhere.example")
	}
	for _, want := range []string{cfg.Brokers[0].URL(), "mq.elsewhere.example", "certificate"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// The authorization map: a client may not read the nodes' destinations
// and a node may not send requests; the refusal reaches the caller and
// the connection stays usable.
func TestAuthorizationRefusals(t *testing.T) {
	b := amq.Broker(t)
	client := mustConnect(t, config(t, b, "client-acl"))
	node := mustConnect(t, config(t, b, "node-acl"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	coll := "acl"
	agent := connector.Destination{Kind: connector.Broadcast, Collective: coll, Agent: "rpcutil"}

	if _, err := client.Subscribe(agent, func(connector.Message) {}); err == nil || !strings.Contains(err.Error(), "not authorized to read") {
		t.Errorf("client subscribing to requests: %v, want a refusal", err)
	}
	if err := node.Publish(ctx, agent, []byte("forged request")); err != nil {
		t.Fatalf("publish is asynchronous, got %v", err)
	}
	if err := node.Flush(ctx); err == nil || !strings.Contains(err.Error(), "not authorized to write") {
		t.Errorf("node sending a request: flush = %v, want a refusal", err)
	}
	if err := node.Flush(ctx); err != nil {
		t.Errorf("second flush reports the refusal again: %v", err)
	}

	// Both connections still work for what they may do.
	got := make(chan string, 1)
	if _, err := node.Subscribe(agent, func(m connector.Message) { got <- string(m.Data) }); err != nil {
		t.Fatalf("node subscribe after refusals: %v", err)
	}
	if err := client.Publish(ctx, agent, []byte("request")); err != nil {
		t.Fatal(err)
	}
	if err := client.Flush(ctx); err != nil {
		t.Fatalf("client flush: %v", err)
	}
	select {
	case m := <-got:
		if m != "request" {
			t.Errorf("got %q", m)
		}
	case <-ctx.Done():
		t.Fatal("request not delivered after the refusals")
	}
}

// Heart-beats keep an idle connection up and are negotiated with the
// broker.
func TestHeartBeatsKeepIdleConnection(t *testing.T) {
	b := amq.Broker(t)
	cfg := config(t, b, "node-hb")
	cfg.HeartBeat = time.Second
	var downs atomic.Int32
	cfg.OnStateChange = func(up bool) {
		if !up {
			downs.Add(1)
		}
	}
	c := mustConnect(t, cfg)
	time.Sleep(4 * time.Second) // idle: only heart-beats flow (the broker drops a silent client after 1.5s)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := downs.Load(); n != 0 {
		t.Errorf("connection dropped %d times while idle with heart-beats", n)
	}
}
