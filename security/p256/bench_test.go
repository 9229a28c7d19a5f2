package p256

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/internal/procstat"
)

func BenchmarkVerify(b *testing.B) {
	priv := mustKey(b)
	hash := sha256.Sum256([]byte("benchmark"))
	sig := mustSign(b, priv, hash[:])
	k := mustPublicKey(b, &priv.PublicKey)
	for _, bc := range []struct {
		name   string
		verify func() bool
	}{
		{"stdlib", func() bool { return ecdsa.VerifyASN1(&priv.PublicKey, hash[:], sig) }},
		{"p256", func() bool { return k.VerifyASN1(hash[:], sig) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			start := procstat.SelfCPU()
			for b.Loop() {
				if !bc.verify() {
					b.Fatal("valid signature refused")
				}
			}
			reportCPU(b, start)
		})
	}
}

// BenchmarkTeeth measures verification and table construction per comb
// width, and reports the table's bytes (the figures in the package doc).
func BenchmarkTeeth(b *testing.B) {
	priv := mustKey(b)
	hash := sha256.Sum256([]byte("benchmark"))
	sig := mustSign(b, priv, hash[:])
	for teeth := 5; teeth <= 8; teeth++ {
		k, err := newPublicKey(&priv.PublicKey, teeth)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("t=%d/verify", teeth), func(b *testing.B) {
			start := procstat.SelfCPU()
			for b.Loop() {
				if !k.VerifyASN1(hash[:], sig) {
					b.Fatal("valid signature refused")
				}
			}
			reportCPU(b, start)
			b.ReportMetric(float64(k.Size()), "table-bytes")
		})
		b.Run(fmt.Sprintf("t=%d/new", teeth), func(b *testing.B) {
			start := procstat.SelfCPU()
			for b.Loop() {
				if _, err := newPublicKey(&priv.PublicKey, teeth); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, start)
		})
	}
}

func BenchmarkNewPublicKey(b *testing.B) {
	pub := &mustKey(b).PublicKey
	b.ReportAllocs()
	start := procstat.SelfCPU()
	for b.Loop() {
		if _, err := NewPublicKey(pub); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, start)
}

// reportCPU adds cpu-ns/op: process CPU time (all threads, the garbage
// collector included) per operation since start, which unlike ns/op
// does not grow while the benchmark waits for a core.
func reportCPU(b *testing.B, start time.Duration) {
	b.StopTimer()
	if cpu := procstat.SelfCPU() - start; start > 0 && cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}
