package audit

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkSpoolDeliver measures records/s delivered from a spool to an
// embedded JetStream (file store, loopback, no TLS): b.N records are
// spooled first, then the time until the stream acknowledged them all.
// window=1 is one acknowledged publish at a time; window=32 the
// default.
func BenchmarkSpoolDeliver(b *testing.B) {
	for _, window := range []int{1, DefaultSpoolWindow} {
		b.Run(fmt.Sprintf("window=%d", window), func(b *testing.B) {
			url := startJetStream(b)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			createStream(ctx, b, url, jetstream.StreamConfig{Name: "AUDIT", Subjects: []string{"audit.>"}, Duplicates: time.Hour})
			pub, err := NewJetStream(JetStreamConfig{Servers: url, Subject: "audit.node1"})
			if err != nil {
				b.Fatal(err)
			}
			defer pub.Close()
			hold := &memPub{down: true} // spool without delivering
			dir := b.TempDir()
			s, err := NewSpool(SpoolConfig{Dir: dir, MaxBytes: 1 << 30, FsyncInterval: time.Second}, hold, nil)
			if err != nil {
				b.Fatal(err)
			}
			for i := range b.N {
				if err := s.Audit(ctx, numbered(i)); err != nil {
					b.Fatal(err)
				}
			}
			_ = s.Close()
			b.ResetTimer()
			s, err = NewSpool(SpoolConfig{Dir: dir, MaxBytes: 1 << 30, Window: window}, pub, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			for s.Stats().Delivered < uint64(b.N) {
				time.Sleep(100 * time.Microsecond)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
