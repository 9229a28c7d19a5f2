package broker_test

import (
	"bufio"
	"crypto/md5" //nolint:gosec // reply subject namespace, as Choria
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/server/broker/brokertest"
)

// rawConn is a node's broker connection driven by hand: TLS with the
// node's certificate, CONNECT, its subscriptions, then nothing reads it.
// It runs no goroutine, so what BenchmarkConnectionMemory measures of
// this process is the broker's alone.
type rawConn struct {
	c *tls.Conn
	r *bufio.Reader
}

func dialRaw(b *testing.B, addr string, tlsc *tls.Config, subs ...string) *rawConn {
	b.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	br := bufio.NewReaderSize(nc, 64) // small: what the clients hold is counted too
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "INFO ") {
		b.Fatalf("INFO: %q %v", line, err)
	}
	tlsc = tlsc.Clone()
	tlsc.ServerName = "broker"
	c := tls.Client(nc, tlsc)
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	rc := &rawConn{c: c, r: bufio.NewReaderSize(c, 64)}
	var w strings.Builder
	w.WriteString(`CONNECT {"verbose":false,"pedantic":false,"tls_required":true,"protocol":1,"headers":true,"no_responders":true}` + "\r\n")
	for i, s := range subs {
		fmt.Fprintf(&w, "SUB %s %d\r\n", s, i+1)
	}
	w.WriteString("PING\r\n")
	if _, err := c.Write([]byte(w.String())); err != nil {
		b.Fatal(err)
	}
	for {
		line, err := rc.r.ReadString('\n')
		if err != nil {
			b.Fatalf("connect: %v", err)
		}
		if strings.HasPrefix(line, "PONG") {
			return rc
		}
		if strings.HasPrefix(line, "-ERR") {
			b.Fatalf("connect: %s", line)
		}
	}
}

const (
	stacksMetric  = "/memory/classes/heap/stacks:bytes"
	objectsMetric = "/memory/classes/heap/objects:bytes"
	liveMetric    = "/gc/heap/live:bytes"
)

// memClasses reads the goroutines, stacks and heap of this process.
func memClasses() map[string]uint64 {
	names := []string{stacksMetric, objectsMetric, liveMetric}
	s := make([]metrics.Sample, len(names))
	for i, n := range names {
		s[i].Name = n
	}
	metrics.Read(s)
	out := map[string]uint64{"goroutines": uint64(runtime.NumGoroutine())}
	for _, m := range s {
		out[m.Name] = m.Value.Uint64()
	}
	return out
}

// BenchmarkConnectionMemory reports what a node connection costs the
// broker in goroutine stacks and live heap: once connected, once a
// request was delivered to every node, after every node replied, and
// after collections. The nodes are raw TLS connections without a
// goroutine of their own, so every stack in this process beyond the
// baseline is the broker's: nats-server's readLoop and writeLoop of each
// connection. The figures are per connection (KiB), as metrics:
// stack-connected, stack-delivered (the writeLoop's first flush of a
// message: nats-server's flushOutbound holds a 24 KiB array on its
// stack, so the goroutine grows to 32 KiB), stack-after-gc (each
// collection halves a stack that uses under a quarter of it) and
// heap-live (with the raw clients' own TLS state, a few KiB each).
func BenchmarkConnectionMemory(b *testing.B) {
	const nodes = 1000
	pki := brokertest.NewPKI(b, "ca")
	br := brokertest.Start(b, brokertest.Config(b, pki, "broker"))
	addr := strings.TrimPrefix(br.ClientURL(), "nats://")
	sum := md5.Sum([]byte("choria=bench.mcollective")) //nolint:gosec
	reply := "mcollective.reply." + hex.EncodeToString(sum[:]) + "."
	caller := dialRaw(b, addr, pki.ClientTLS(b, "bench.mcollective"), reply+">")
	runtime.GC()
	m0 := memClasses()
	conns := make([]*rawConn, nodes)
	for i := range conns {
		name := fmt.Sprintf("emu-%05d", i+1)
		conns[i] = dialRaw(b, addr, pki.ClientTLS(b, name), "mcollective.broadcast.agent.rpcutil",
			"mcollective.broadcast.agent.discovery", "mcollective.node."+name)
	}
	per := func(m map[string]uint64, k string) float64 { return float64(int64(m[k])-int64(m0[k])) / nodes / 1024 }
	report := func(what string) map[string]uint64 {
		m := memClasses()
		b.Logf("%-22s goroutines %+5d  stacks %5.1f KiB/conn  live heap %5.1f  heap objects %5.1f",
			what, int64(m["goroutines"])-int64(m0["goroutines"]), per(m, stacksMetric), per(m, liveMetric), per(m, objectsMetric))
		return m
	}
	time.Sleep(200 * time.Millisecond)
	runtime.GC()
	connected := report("connected")
	payload, body := strings.Repeat("x", 2000), strings.Repeat("y", 900)
	var delivered map[string]uint64
	for k := range 3 {
		if _, err := fmt.Fprintf(caller.c, "PUB mcollective.broadcast.agent.rpcutil %s%d %d\r\n%s\r\n", reply, k, len(payload), payload); err != nil {
			b.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond) // every writeLoop has flushed
		delivered = report(fmt.Sprintf("request %d delivered", k+1))
		for i, c := range conns {
			if _, err := fmt.Fprintf(c.c, "PUB %s%d.%d %d\r\n%s\r\n", reply, k, i, len(body), body); err != nil {
				b.Fatal(err)
			}
		}
		caller.awaitMsgs(b, nodes, len(body))
		report(fmt.Sprintf("replies %d received", k+1))
	}
	runtime.GC()
	report("after a collection")
	runtime.GC()
	afterGC := report("after a second one")
	runtime.KeepAlive(conns)
	for range b.N {
	}
	b.ReportMetric(per(connected, stacksMetric), "stack-connected-KiB/conn")
	b.ReportMetric(per(delivered, stacksMetric), "stack-delivered-KiB/conn")
	b.ReportMetric(per(afterGC, stacksMetric), "stack-after-gc-KiB/conn")
	b.ReportMetric(per(afterGC, liveMetric), "heap-live-KiB/conn")
}

// awaitMsgs reads n MSG frames of size bytes each.
func (rc *rawConn) awaitMsgs(b *testing.B, n, size int) {
	b.Helper()
	_ = rc.c.SetReadDeadline(time.Now().Add(time.Minute))
	for got := 0; got < n; {
		line, err := rc.r.ReadString('\n')
		if err != nil {
			b.Fatalf("%d of %d messages: %v", got, n, err)
		}
		if strings.HasPrefix(line, "MSG ") {
			got++
			if _, err := rc.r.Discard(size + 2); err != nil {
				b.Fatal(err)
			}
		}
	}
}
