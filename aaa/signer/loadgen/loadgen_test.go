package loadgen_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/aaa/signer"
	"github.com/tuttifleet/tutti/aaa/signer/loadgen"
	"github.com/tuttifleet/tutti/aaa/signer/signertest"
	"github.com/tuttifleet/tutti/security/remote"
	"github.com/tuttifleet/tutti/security/x509"
)

func TestMain(m *testing.M) {
	signertest.ServeChild()
	os.Exit(m.Run())
}

func newSigner(t testing.TB, e *signertest.Env, user string) *remote.Signer {
	t.Helper()
	rs, err := remote.New(remote.Config{URL: e.URL + signer.SignPath, TokenFile: e.WriteToken(t, user), HTTPClient: e.Client})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// The load generator against a service in another process: every sign
// is counted, the service's CPU is read from /proc and each one is
// audited by the service.
func TestRunAgainstChildProcess(t *testing.T) {
	e := signertest.StartProcess(t, signertest.Options{})
	r, err := loadgen.Run(context.Background(), loadgen.Options{
		Signer: newSigner(t, e, "bob"), Requests: 300, Concurrency: 4, ServicePID: e.PID})
	if err != nil {
		t.Fatal(err)
	}
	if r.Signs != 300 || r.PerSecond() <= 0 || r.P99 < r.P50 || r.P50 <= 0 {
		t.Fatalf("result %+v", r)
	}
	if r.ServiceCPU <= 0 || r.ClientCPU <= 0 {
		t.Fatalf("CPU not measured: %+v", r)
	}
	t.Log(r)
	// The child's audit file holds every decision once the child is
	// stopped (records may be buffered until then).
	e.StopProcess(t)
	recs := e.AuditRecords(t)
	allowed := 0
	for _, rec := range recs {
		if rec.Action == signer.DecisionAllow {
			allowed++
		}
	}
	if allowed != 300 {
		t.Fatalf("%d allowed records in the audit file, want 300", allowed)
	}
}

// A refusal stops the run and is returned.
func TestRunStopsAtRefusal(t *testing.T) {
	e := signertest.Start(t, signertest.Options{})
	_, err := loadgen.Run(context.Background(), loadgen.Options{
		Signer: newSigner(t, e, "bob"), Agent: "service", Action: "restart", Duration: 10 * time.Second})
	var ref *remote.RefusedError
	if !errors.As(err, &ref) || ref.Code != signer.CodeNotAllowed {
		t.Fatalf("err %v, want a not_allowed refusal", err)
	}
}

func TestRunNeedsALimit(t *testing.T) {
	e := signertest.Start(t, signertest.Options{})
	if _, err := loadgen.Run(context.Background(), loadgen.Options{Signer: newSigner(t, e, "bob")}); err == nil {
		t.Fatal("a run without duration or request count was accepted")
	}
}

func TestProcessCPU(t *testing.T) {
	// burn some CPU so the reading is not 0
	deadline := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(deadline) {
	}
	cpu, err := loadgen.ProcessCPU(os.Getpid())
	if err != nil || cpu <= 0 {
		t.Fatalf("ProcessCPU(self) = %v, %v", cpu, err)
	}
	if _, err := loadgen.ProcessCPU(-1); err == nil || !strings.Contains(err.Error(), "service CPU") {
		t.Fatalf("ProcessCPU(-1): %v", err)
	}
}

// BenchmarkSignProcess is the honest throughput figure: the service in
// a child process with the file auditor, the load generator (the real
// remote signer client, 8 requests in flight) in this one, both on this
// machine's cores. Besides signs/s it reports the service's CPU per sign
// (svc-µs/sign), from which the rate on dedicated cores follows.
// Figures: docs/performance-aaa.md.
func BenchmarkSignProcess(b *testing.B) {
	for _, kt := range []struct {
		name string
		key  x509.KeyType
	}{{"RSA-2048", x509.KeyRSA}, {"ECDSA-P256", x509.KeyECDSA}} {
		b.Run(kt.name, func(b *testing.B) {
			e := signertest.StartProcess(b, signertest.Options{PrivilegedKey: kt.key})
			rs := newSigner(b, e, "bob")
			b.ResetTimer()
			r, err := loadgen.Run(context.Background(), loadgen.Options{
				Signer: rs, Requests: int64(b.N), Concurrency: 8, ServicePID: e.PID})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(r.PerSecond(), "signs/s")
			b.ReportMetric(float64(r.ServiceCPUPerSign())/float64(time.Microsecond), "svc-µs/sign")
			b.ReportMetric(float64(r.ClientCPUPerSign())/float64(time.Microsecond), "client-µs/sign")
		})
	}
}
