package stomp_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/server/broker/brokertest"
)

// freezer is a TCP proxy to a broker that can go silent: while frozen it
// forwards nothing but keeps every connection open, like a hung broker or
// a dead network path that sends no RST.
type freezer struct {
	l      net.Listener
	target string

	mu     sync.Mutex
	frozen bool
	thaw   chan struct{}
	conns  []net.Conn
}

func newFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezer{l: l, target: target, thaw: make(chan struct{})}
	close(p.thaw)
	t.Cleanup(func() { _ = l.Close() })
	go p.serve()
	return p
}

func (p *freezer) port() int { return p.l.Addr().(*net.TCPAddr).Port }

func (p *freezer) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

func (p *freezer) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		p.mu.Lock()
		thaw := p.thaw
		p.mu.Unlock()
		<-thaw
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// kill closes the listener and every connection: the broker is gone.
func (p *freezer) kill() {
	_ = p.l.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
}

func (p *freezer) freeze(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on && !p.frozen {
		p.thaw = make(chan struct{})
	} else if !on && p.frozen {
		close(p.thaw)
	}
	p.frozen = on
}

// A broker that goes silent is noticed by the missing heart-beats; the
// connection is re-established once the path works again, with its
// subscriptions.
func TestSilentBrokerDetectedByHeartBeats(t *testing.T) {
	b := amq.Broker(t)
	proxy := newFreezer(t, net.JoinHostPort(b.Host, strconv.Itoa(b.SSLPort)))
	cfg := config(t, b, "node-silent")
	cfg.Brokers[0].Port = proxy.port()
	cfg.Brokers[0].TLS.ServerName = "localhost"
	cfg.HeartBeat = 500 * time.Millisecond
	down := make(chan struct{}, 8)
	var ups atomic.Int32
	cfg.OnStateChange = func(up bool) {
		if up {
			ups.Add(1)
			return
		}
		down <- struct{}{}
	}
	node := mustConnect(t, cfg)
	dest := connector.Destination{Kind: connector.Directed, Collective: "silent", Identity: "node-silent"}
	got := make(chan string, 16)
	if _, err := node.Subscribe(dest, func(m connector.Message) { got <- string(m.Data) }); err != nil {
		t.Fatal(err)
	}

	proxy.freeze(true)
	frozeAt := time.Now()
	select {
	case <-down:
		t.Logf("silence noticed after %v", time.Since(frozeAt).Round(10*time.Millisecond))
	case <-time.After(10 * time.Second):
		t.Fatal("a silent broker was not noticed within 10s with 500ms heart-beats")
	}
	proxy.freeze(false)

	client := mustConnect(t, config(t, b, "client-silent"))
	brokertest.Eventually(t, 20*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := client.Publish(ctx, dest, []byte("after")); err != nil {
			return err
		}
		select {
		case <-got:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	if ups.Load() < 2 {
		t.Errorf("OnStateChange(true) called %d times, want the first connect and the reconnect", ups.Load())
	}
}

// With max_reconnect_attempts the connection gives up on a broker that
// stays away and closes itself; callers then get connector.ErrClosed.
func TestGiveUpAfterMaxReconnectAttempts(t *testing.T) {
	b := amq.Broker(t)
	proxy := newFreezer(t, net.JoinHostPort(b.Host, strconv.Itoa(b.SSLPort)))
	cfg := config(t, b, "node-giveup")
	cfg.Brokers[0].Port = proxy.port()
	cfg.Brokers[0].TLS.ServerName = "localhost"
	cfg.MaxReconnectAttempts = 3
	cfg.InitialReconnectDelay, cfg.MaxReconnectDelay = 10*time.Millisecond, 50*time.Millisecond
	var downs atomic.Int32
	cfg.OnStateChange = func(up bool) {
		if !up {
			downs.Add(1)
		}
	}
	c := mustConnect(t, cfg)
	proxy.kill()
	dest := connector.Destination{Kind: connector.Broadcast, Collective: "giveup", Agent: "rpcutil"}
	brokertest.Eventually(t, 10*time.Second, func() error {
		_, err := c.Subscribe(dest, func(connector.Message) {})
		if errors.Is(err, connector.ErrClosed) {
			return nil
		}
		return fmt.Errorf("subscribe: %v, want connector.ErrClosed", err)
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := c.Publish(ctx, dest, []byte("x")); !errors.Is(err, connector.ErrClosed) {
		t.Errorf("publish after giving up: %v, want connector.ErrClosed", err)
	}
	if downs.Load() < 2 {
		t.Errorf("OnStateChange(false) called %d times, want the loss and the close", downs.Load())
	}
}
