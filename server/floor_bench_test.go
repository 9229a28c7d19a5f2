package server_test

import (
	"context"
	"testing"

	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/internal/procstat"
	"github.com/tuttifleet/tutti/security/x509"
)

// BenchmarkSignatureFloor is the part of BenchmarkPipeline that no
// pipeline change can remove: the node's verification of the caller's
// signature (certificate chain cached, as after a node's first request
// from a caller) and its signature on a reply, with nothing else. The
// node process's CPU per request can go no lower than this plus the
// read and write of the messages (docs/performance.md).
func BenchmarkSignatureFloor(b *testing.B) {
	for _, kt := range []x509.KeyType{x509.KeyECDSA, x509.KeyEd25519} {
		b.Run(string(kt), func(b *testing.B) {
			r := newRig(b, kt, nil, nil)
			tr, err := protocol.DecodeTransport(r.request(b), 0)
			if err != nil {
				b.Fatal(err)
			}
			sr, err := protocol.DecodeSecureRequest(tr.Data)
			if err != nil {
				b.Fatal(err)
			}
			// a real reply, for its size
			out := r.node.Process(context.Background(), rpcutilSubject, r.request(b))
			if out.Reply == nil {
				b.Fatal(out.Dropped)
			}
			verifier, signer := r.nodeP, r.nodeP
			if _, err := verifier.VerifyRequest(sr.Message, sr.Signature, sr.PubCert, "choria=rip.mcollective"); err != nil {
				b.Fatal(err)
			}
			verify := func() {
				if _, err := verifier.VerifyRequest(sr.Message, sr.Signature, sr.PubCert, "choria=rip.mcollective"); err != nil {
					b.Fatal(err)
				}
			}
			sign := func() {
				if _, err := signer.Sign(out.Reply[:len(out.Reply)/2]); err != nil {
					b.Fatal(err)
				}
			}
			for _, op := range []struct {
				name string
				fn   func()
			}{{"verify", verify}, {"sign", sign}, {"both", func() { verify(); sign() }}} {
				b.Run(op.name, func(b *testing.B) {
					b.ReportAllocs()
					start := procstat.SelfCPU()
					for i := 0; i < b.N; i++ {
						op.fn()
					}
					b.StopTimer()
					if cpu := procstat.SelfCPU() - start; cpu > 0 {
						b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
					}
				})
			}
		})
	}
}
