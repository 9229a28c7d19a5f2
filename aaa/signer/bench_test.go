package signer_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/aaa/signer"
	"github.com/tuttifleet/tutti/aaa/signer/signertest"
	"github.com/tuttifleet/tutti/security/x509"
)

// BenchmarkSignHTTP measures signs per second through the HTTPS API:
// parallel clients with keep-alive, each request fresh (new id, proof of
// possession), token verification, all checks, the file audit, and the
// privileged signature. Figures: docs/performance-aaa.md.
func BenchmarkSignHTTP(b *testing.B) {
	for _, kt := range []struct {
		name string
		key  x509.KeyType
	}{{"RSA-2048", x509.KeyRSA}, {"ECDSA-P256", x509.KeyECDSA}} {
		b.Run(kt.name, func(b *testing.B) {
			env := signertest.Start(b, signertest.Options{PrivilegedKey: kt.key})
			tok, seed := env.Login(b, "bob")
			b.SetParallelism(4)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := signertest.Request(b, "rpcutil", "ping", "up=bob", time.Now(), 60)
					body, _ := json.Marshal(signertest.SignBody(tok, req, seed))
					resp, err := env.Client.Post(env.URL+signer.SignPath, "application/json", bytes.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					var out map[string]string
					err = json.NewDecoder(resp.Body).Decode(&out)
					resp.Body.Close()
					if err != nil || resp.StatusCode != http.StatusOK || out["secure_request"] == "" {
						b.Errorf("sign: %d %v %v", resp.StatusCode, out, err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "signs/s")
		})
	}
}
