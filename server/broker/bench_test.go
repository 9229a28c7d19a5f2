package broker_test

import (
	"crypto/md5" //nolint:gosec // reply subject namespace, as Choria
	"crypto/tls"
	"encoding/hex"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"

	"github.com/tuttifleet/tutti/internal/procstat"
	"github.com/tuttifleet/tutti/server/broker/brokertest"
)

// BenchmarkReplyPublish measures what the per-certificate permissions
// cost the broker on the hot path of a fleet request: a node publishing
// its reply to a subject it has never used before (every request has a
// new reply subject, so nats-server's per-connection permission cache
// misses every time) and the caller receiving it on its own reply
// subscription. "open" is the same nats-server, TLS and mutual
// authentication without the authenticator; "permissions" is the
// embedded broker as tuttid runs it. The difference per op is the cost
// of the permission check per reply.
func BenchmarkReplyPublish(b *testing.B) {
	pki := brokertest.NewPKI(b, "ca")
	b.Run("open", func(b *testing.B) {
		tlsc := pki.ServerTLS(b, "broker")
		tlsc.ClientAuth = tls.RequireAndVerifyClientCert
		srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, TLSConfig: tlsc, TLSVerify: true,
			TLSTimeout: 5, NoSigs: true, NoLog: true})
		if err != nil {
			b.Fatal(err)
		}
		srv.Start()
		b.Cleanup(srv.Shutdown)
		if !srv.ReadyForConnections(10 * time.Second) {
			b.Fatal("broker not ready")
		}
		benchReplies(b, pki, srv.ClientURL())
	})
	b.Run("permissions", func(b *testing.B) {
		br := brokertest.Start(b, brokertest.Config(b, pki, "broker"))
		benchReplies(b, pki, br.ClientURL())
	})
}

func benchReplies(b *testing.B, pki *brokertest.PKI, url string) {
	dial := func(name string) *natsgo.Conn {
		nc, err := natsgo.Connect(url, natsgo.Secure(pki.ClientTLS(b, name)), natsgo.NoReconnect())
		if err != nil {
			b.Fatalf("connect as %s: %v", name, err)
		}
		b.Cleanup(nc.Close)
		return nc
	}
	caller, node := dial("bench.mcollective"), dial("node1.example.net")
	sum := md5.Sum([]byte("choria=bench.mcollective")) //nolint:gosec
	prefix := "mcollective.reply." + hex.EncodeToString(sum[:]) + "."
	var got atomic.Int64
	done := make(chan struct{})
	want := int64(b.N)
	sub, err := caller.Subscribe(prefix+">", func(*natsgo.Msg) {
		if got.Add(1) == want {
			close(done)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		b.Fatal(err)
	}
	if err := caller.Flush(); err != nil {
		b.Fatalf("subscribe to %s>: %v", prefix, err)
	}
	payload := make([]byte, 900) // about a signed rpcutil ping reply
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := procstat.SelfCPU()
	for i := 0; i < b.N; i++ {
		if err := node.Publish(prefix+strconv.Itoa(i), payload); err != nil {
			b.Fatal(err)
		}
	}
	if err := node.Flush(); err != nil {
		b.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
		b.Fatalf("received %d of %d replies: the broker dropped or refused some", got.Load(), want)
	}
	b.StopTimer()
	if cpu := procstat.SelfCPU() - cpu0; cpu > 0 {
		// broker, node and caller all run in this process
		b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
	}
}
