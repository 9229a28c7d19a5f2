package signer_test

import (
	"os"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/aaa/audit"
	"github.com/tuttifleet/tutti/aaa/signer"
	"github.com/tuttifleet/tutti/aaa/signer/signertest"
	"github.com/tuttifleet/tutti/security/x509"
)

// TestAuditChain: tutti-aaa's records are chained, and its checkpoints,
// signed with the privileged key, verify with the fleet CA under the
// privileged certificate's name.
func TestAuditChain(t *testing.T) {
	env := signertest.Start(t, signertest.Options{Configure: func(c *signer.Config) {
		c.AuditChain.CheckpointRecords = 2
	}})
	tok, seed := env.Login(t, "bob")
	for range 3 {
		if _, code := env.Sign(t, tok, signertest.Request(t, "rpcutil", "ping", "up=bob", time.Now(), 60), seed); code != "" {
			t.Fatalf("sign: %s", code)
		}
	}
	if n := len(env.AuditRecords(t)); n != 3 {
		t.Fatalf("%d signing records, want 3 (checkpoints are not signing records)", n)
	}
	ca, err := os.ReadFile(env.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	ver, err := x509.NewFromPEM(nil, nil, ca, x509.Config{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(env.Config.LogfileAuditor.Logfile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v := audit.NewVerifier(ver)
	if err := v.ReadFrom("audit.jsonl", f); err != nil {
		t.Fatal(err)
	}
	rep := v.Report()
	if !rep.OK() || len(rep.Writers) != 1 || rep.Writers[0].Writer != env.Privileged.Cert.Subject.CommonName ||
		rep.Writers[0].Checkpoints != 1 || rep.Writers[0].Unprotected != 1 {
		t.Fatalf("report %+v", rep)
	}
}
