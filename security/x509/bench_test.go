package x509

import (
	"testing"
	"time"

	"github.com/tuttifleet/tutti/internal/procstat"
)

var benchKeyTypes = []KeyType{KeyRSA, KeyECDSA, KeyEd25519}

// BenchmarkVerifyRequest measures the per-request cost with a warm
// certificate cache: SHA-256 of pubcert, a map lookup, the name rules and
// one signature verification.
func BenchmarkVerifyRequest(b *testing.B) {
	for _, kt := range benchKeyTypes {
		b.Run(benchName(kt), func(b *testing.B) {
			ca := mustCA(b, "bench CA", KeyECDSA)
			is := mustIssue(b, ca, "alice.mcollective", IssueOptions{KeyType: kt})
			sig := mustSign(b, is, testMsg)
			p := verifier(b, ca, Config{})
			if _, err := p.VerifyRequest(testMsg, sig, is.CertPEM, "choria=alice.mcollective"); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := p.VerifyRequest(testMsg, sig, is.CertPEM, "choria=alice.mcollective"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyRequestCold measures a cache miss: full certificate
// checks every time (a new caller, or after Reload) and the signature.
func BenchmarkVerifyRequestCold(b *testing.B) {
	ca := mustCA(b, "bench CA", KeyECDSA)
	is := mustIssue(b, ca, "alice.mcollective", IssueOptions{})
	sig := mustSign(b, is, testMsg)
	p := verifier(b, ca, Config{})
	b.ReportAllocs()
	start := procstat.SelfCPU()
	for b.Loop() {
		st := p.st.Load()
		if _, err := p.verifyChain(st, is.CertPEM, forRequest, p.now()); err != nil {
			b.Fatal(err)
		}
		if err := VerifyWith(is.Cert.PublicKey, testMsg, sig); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, start)
}

// BenchmarkVerifyChainCold is the certificate checks of a cache miss
// alone (PEM, parsing, crypto/x509 Verify with the CA's signature, CRL,
// the cache entry), per CA key type; the leaf is ECDSA.
func BenchmarkVerifyChainCold(b *testing.B) {
	for _, kt := range benchKeyTypes {
		b.Run("ca-"+benchName(kt), func(b *testing.B) {
			ca := mustCA(b, "bench CA", kt)
			is := mustIssue(b, ca, "alice.mcollective", IssueOptions{})
			p := verifier(b, ca, Config{})
			b.ReportAllocs()
			start := procstat.SelfCPU()
			for b.Loop() {
				if _, err := p.verifyChain(p.st.Load(), is.CertPEM, forRequest, p.now()); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, start)
		})
	}
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

func BenchmarkSign(b *testing.B) {
	for _, kt := range benchKeyTypes {
		b.Run(benchName(kt), func(b *testing.B) {
			ca := mustCA(b, "bench CA", KeyECDSA)
			is := mustIssue(b, ca, "alice.mcollective", IssueOptions{KeyType: kt})
			p, err := NewFromPEM(is.CertPEM, is.KeyPEM, ca.CertPEM, Config{})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Sign(testMsg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchName(kt KeyType) string { return string(kt) }

// BenchmarkVerifyRequestTrust compares a warm request verification by a
// provider built from its own PEM with one built on a shared Trust (the
// emulator's): the same work, so the same cost.
func BenchmarkVerifyRequestTrust(b *testing.B) {
	ca := mustCA(b, "bench CA", KeyECDSA)
	node := mustIssue(b, ca, "node1.example.net", IssueOptions{})
	is := mustIssue(b, ca, "alice.mcollective", IssueOptions{})
	sig := mustSign(b, is, testMsg)
	trust, err := NewTrust(ca.CertPEM, Config{})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		new  func() (*Provider, error)
	}{
		{"own", func() (*Provider, error) { return NewFromPEM(node.CertPEM, node.KeyPEM, ca.CertPEM, Config{}) }},
		{"trust", func() (*Provider, error) { return NewFromTrust(node.CertPEM, node.KeyPEM, trust) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			p, err := c.new()
			if err != nil {
				b.Fatal(err)
			}
			for range 3 { // the chain cached, then the key's comb table
				if _, err := p.VerifyRequest(testMsg, sig, is.CertPEM, "choria=alice.mcollective"); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			start := procstat.SelfCPU()
			for b.Loop() {
				if _, err := p.VerifyRequest(testMsg, sig, is.CertPEM, "choria=alice.mcollective"); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, start)
		})
	}
}
