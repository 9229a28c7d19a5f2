package brokertest

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy is a TCP relay in front of one address whose link can be cut and
// restored: a WAN link between data centres in tests.
type Proxy struct {
	l      net.Listener
	mu     sync.Mutex
	target string
	down   bool
	conns  []net.Conn
}

// NewProxy listens on a random loopback port; it relays nothing until
// SetTarget. It is closed when the test ends.
func NewProxy(t testing.TB) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{l: l}
	t.Cleanup(func() {
		l.Close()
		p.Cut()
	})
	go p.serve()
	return p
}

// SetTarget is the host:port connections are relayed to.
func (p *Proxy) SetTarget(addr string) {
	p.mu.Lock()
	p.target = addr
	p.mu.Unlock()
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.l.Addr().String() }

// URL is nats://Addr().
func (p *Proxy) URL() string { return "nats://" + p.Addr() }

func (p *Proxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down, target := p.down, p.target
		p.mu.Unlock()
		if down || target == "" {
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(s, c); s.Close() }()
		go func() { _, _ = io.Copy(c, s); c.Close() }()
	}
}

// Cut closes every relayed connection and refuses new ones until Heal.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// Heal accepts and relays connections again.
func (p *Proxy) Heal() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}
