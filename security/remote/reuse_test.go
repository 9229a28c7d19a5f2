package remote_test

import (
	"context"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/aaa/signer"
	"github.com/tuttifleet/tutti/aaa/signer/signertest"
	"github.com/tuttifleet/tutti/security/remote"
)

// countingProxy forwards TCP connections to target and counts them: each
// one is a TLS handshake between the client and tutti-aaa, which the
// proxy passes through untouched.
type countingProxy struct {
	ln    net.Listener
	conns atomic.Int64
}

func newCountingProxy(t *testing.T, target string) *countingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.conns.Add(1)
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer up.Close()
				go func() { _, _ = io.Copy(up, c); up.Close() }()
				_, _ = io.Copy(c, up)
			}()
		}
	}()
	return p
}

// TestSignsReuseConnections: consecutive and concurrent signs go over
// connections kept open, so a `tutti rpc` of many batches does not pay a
// TLS handshake per request; TLS is still verified against the CA file.
func TestSignsReuseConnections(t *testing.T) {
	env := signertest.Start(t, signertest.Options{})
	u, err := url.Parse(env.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCountingProxy(t, u.Host)
	base := "https://" + proxy.ln.Addr().String() // 127.0.0.1, a SAN of the service certificate
	tokenFile := filepath.Join(t.TempDir(), "token")
	if _, err := remote.Login(context.Background(), remote.LoginOptions{URLs: []string{env.URL + signer.LoginPath},
		User: "bob", Password: signertest.Password, TokenFile: tokenFile, CA: env.CAFile}); err != nil {
		t.Fatal(err)
	}
	s, err := remote.New(remote.Config{URL: base + signer.SignPath, TokenFile: tokenFile, CA: env.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	sign := func() error {
		_, err := s.SignRequest(context.Background(), signertest.Request(t, "rpcutil", "ping", s.CallerID(), time.Now(), 60))
		return err
	}

	for i := 0; i < 10; i++ {
		if err := sign(); err != nil {
			t.Fatal(err)
		}
	}
	if n := proxy.conns.Load(); n != 1 {
		t.Fatalf("10 consecutive signs opened %d connections, want 1", n)
	}

	// concurrent waves of signs
	const concurrency, waves = 8, 4
	wave := func() {
		var wg sync.WaitGroup
		errs := make(chan error, concurrency)
		for i := 0; i < concurrency; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); errs <- sign() }()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := 0; i < waves; i++ {
		wave()
		// a finished request's connection goes back to the pool from the
		// transport's read loop, a moment after the caller has its answer
		time.Sleep(100 * time.Millisecond)
	}
	// Reused, about concurrency+1 in all (a busy machine adds a few when a
	// connection returns to the pool late); with Go's default of 2 idle
	// connections each wave after the first opened 6 more (27 in all).
	if n := proxy.conns.Load(); n > 2*concurrency+1 {
		t.Fatalf("%d waves of %d concurrent signs opened %d connections in all, want at most %d",
			waves, concurrency, n, 2*concurrency+1)
	}
}
