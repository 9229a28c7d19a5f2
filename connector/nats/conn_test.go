package nats_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/conformance"
	"github.com/tuttifleet/tutti/connector/nats"
	"github.com/tuttifleet/tutti/internal/freeport"
	"github.com/tuttifleet/tutti/server/broker/brokertest"
)

func TestConnectConfigRefusals(t *testing.T) {
	pki := brokertest.NewPKI(t, "ca")
	good := pki.ClientTLS(t, "c1")
	insecure := good.Clone()
	insecure.InsecureSkipVerify = true
	log := brokertest.Logger("test")
	conformance.CheckRefusals(t, func(ctx context.Context, cfg nats.Config) (io.Closer, error) {
		return nats.Connect(ctx, cfg)
	}, []conformance.Refusal[nats.Config]{
		{Name: "no TLS", Config: nats.Config{Servers: []string{"nats://127.0.0.1:1"}, Log: log}, Reason: "TLS is required"},
		{Name: "insecure TLS", Config: nats.Config{Servers: []string{"nats://127.0.0.1:1"}, TLS: insecure, Log: log}, Reason: "InsecureSkipVerify"},
		{Name: "no servers", Config: nats.Config{TLS: good, Log: log}, Reason: "no broker servers"},
		{Name: "empty server", Config: nats.Config{Servers: []string{" "}, TLS: good, Log: log}, Reason: "empty server"},
		{Name: "no logger", Config: nats.Config{Servers: []string{"nats://127.0.0.1:1"}, TLS: good}, Reason: "logger"},
	})
}

func TestConnectUnreachableNamesServerAndCause(t *testing.T) {
	pki := brokertest.NewPKI(t, "ca")
	url := "nats://127.0.0.1:" + strconv.Itoa(freeport.Must(t))
	log, hook := logtest.NewNullLogger()
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	_, err := nats.Connect(ctx, nats.Config{Servers: []string{url}, TLS: pki.ClientTLS(t, "n1"), Log: log.WithField("component", "nats")})
	conformance.CheckGaveUp(t, err, url)
	var retries int
	for _, e := range hook.AllEntries() {
		if strings.Contains(e.Message, "retrying") && strings.Contains(e.Data["servers"].(string), url) {
			retries++
		}
	}
	if retries < 2 {
		t.Errorf("logged %d failed attempts naming %s, want at least 2", retries, url)
	}
}

func TestConnectWaitsForLateBroker(t *testing.T) {
	pki := brokertest.NewPKI(t, "ca")
	port := freeport.Must(t)
	type result struct {
		c   *nats.Conn
		err error
	}
	done := make(chan result, 1)
	log, hook := logtest.NewNullLogger()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := nats.Connect(ctx, nats.Config{
			Servers: []string{"127.0.0.1:" + strconv.Itoa(port)}, // no scheme: nats:// is implied
			TLS:     pki.ClientTLS(t, "early-node"),
			Log:     log.WithField("component", "nats"),
		})
		done <- result{c, err}
	}()
	brokertest.Eventually(t, 10*time.Second, func() error {
		select {
		case r := <-done:
			t.Fatalf("Connect returned before any broker existed: %v", r.err)
		default:
		}
		if len(hook.AllEntries()) == 0 {
			return errors.New("no failed attempt logged yet")
		}
		return nil
	})
	cfg := brokertest.Config(t, pki, "late")
	cfg.ClientPort = port
	brokertest.Start(t, cfg)
	r := <-done
	if r.err != nil {
		t.Fatalf("Connect after the broker came up: %v", r.err)
	}
	defer r.c.Close()
	if _, up := r.c.Stats(); !up {
		t.Error("Stats says not connected")
	}
}

func TestConnectRefusesUntrustedBroker(t *testing.T) {
	pki, other := brokertest.NewPKI(t, "ca"), brokertest.NewPKI(t, "other")
	b := brokertest.Start(t, brokertest.Config(t, pki, "broker"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	tlsc := pki.ClientTLS(t, "n1")
	tlsc.RootCAs = other.Pool // does not trust the broker's CA
	_, err := nats.Connect(ctx, nats.Config{Servers: []string{b.ClientURL()}, TLS: tlsc, Log: brokertest.Logger("nats")})
	if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Fatalf("Connect = %v, want a certificate verification failure", err)
	}
}

func TestReconnectStatsAndStateChanges(t *testing.T) {
	h := newHarness(t)
	var mu sync.Mutex
	var states []bool
	c, err := h.connect(t, "n1", nats.Config{
		TLS: h.pki.ClientTLS(t, "n1"),
		OnStateChange: func(up bool) {
			mu.Lock()
			defer mu.Unlock()
			states = append(states, up)
		},
	}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if n, up := c.Stats(); n != 0 || !up {
		t.Fatalf("Stats() = %d, %v; want 0, true", n, up)
	}
	h.RestartBroker(t)
	brokertest.Eventually(t, 15*time.Second, func() error {
		if n, up := c.Stats(); n != 1 || !up {
			return errors.New("reconnects=" + strconv.FormatUint(n, 10) + " connected=" + strconv.FormatBool(up))
		}
		return nil
	})
	_ = c.Close()
	brokertest.Eventually(t, 5*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if got := fmtStates(states); got != "up down up down" {
			return errors.New("state changes: " + got)
		}
		return nil
	})
	if _, up := c.Stats(); up {
		t.Error("Stats says connected after Close")
	}
}

func fmtStates(s []bool) string {
	out := make([]string, len(s))
	for i, up := range s {
		out[i] = map[bool]string{true: "up", false: "down"}[up]
	}
	return strings.Join(out, " ")
}

func TestPublishTooLarge(t *testing.T) {
	pki := brokertest.NewPKI(t, "ca")
	cfg := brokertest.Config(t, pki, "broker")
	cfg.MaxPayload = 1024
	b := brokertest.Start(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := nats.Connect(ctx, nats.Config{Servers: []string{b.ClientURL()}, TLS: pki.ClientTLS(t, "c.mcollective"), Log: brokertest.Logger("nats")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dest := connector.Destination{Kind: connector.Broadcast, Collective: "c", Agent: "a"}
	if err := c.Publish(ctx, dest, make([]byte, 1024)); err != nil {
		t.Errorf("publish at the limit: %v", err)
	}
	err = c.Publish(ctx, dest, make([]byte, 1025))
	if !errors.Is(err, natsgo.ErrMaxPayload) || !strings.Contains(err.Error(), "1025 bytes") {
		t.Errorf("publish over the limit = %v, want ErrMaxPayload naming the size", err)
	}
}

func TestSlowConsumerIsLogged(t *testing.T) {
	h := newHarness(t)
	log, hook := logtest.NewNullLogger()
	cfg := nats.Config{TLS: h.pki.ClientTLS(t, "slow"), PendingMsgs: 2, PendingBytes: 1 << 20}
	cfg.Servers = []string{h.url}
	cfg.Log = log.WithField("component", "nats")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	node, err := nats.Connect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	release := make(chan struct{})
	var got atomic.Int64
	dest := connector.Destination{Kind: connector.Broadcast, Collective: "c", Agent: "slow"}
	if _, err := node.Subscribe(dest, func(connector.Message) { got.Add(1); <-release }); err != nil {
		t.Fatal(err)
	}
	if err := node.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	client := h.Connect(t, "client1")
	for range 20 {
		if err := client.Publish(ctx, dest, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	brokertest.Eventually(t, 10*time.Second, func() error {
		for _, e := range hook.AllEntries() {
			if strings.Contains(e.Message, "slow consumer") && e.Data["subject"] == "c.broadcast.agent.slow" {
				return nil
			}
		}
		return errors.New("no slow consumer error logged")
	})
	close(release)
}

// A certificate failure ends Connect at once with a *CertError naming
// whose certificate is wrong; only network failures are retried.
func TestConnectCertFailuresFailAtOnce(t *testing.T) {
	pki := brokertest.NewPKI(t, "ca")
	other := brokertest.NewPKI(t, "other")
	b := brokertest.Start(t, brokertest.Config(t, pki, "broker"))
	wrongCA := pki.ClientTLS(t, "c1")
	wrongCA.RootCAs = other.Pool
	noCert := &tls.Config{RootCAs: pki.Pool, MinVersion: tls.VersionTLS12}
	for _, tt := range []struct {
		name string
		tls  *tls.Config
		want nats.Whose
	}{
		{"broker not signed by our CA", wrongCA, nats.BrokerCertificate},
		{"broker refuses ours", noCert, nats.OwnCertificate},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			_, err := nats.Connect(ctx, nats.Config{Servers: []string{b.ClientURL()}, TLS: tt.tls, Log: brokertest.Logger("test")})
			var ce *nats.CertError
			if !errors.As(err, &ce) || ce.Whose != tt.want {
				t.Fatalf("err = %v, want a CertError whose=%d", err, tt.want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s: a certificate failure was retried", d)
			}
		})
	}
}
