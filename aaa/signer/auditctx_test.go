package signer

import (
	"context"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/aaa/audit"
	"github.com/tuttifleet/tutti/connector/protocol"
)

// ctxAuditor records whether the context it was given was live.
type ctxAuditor struct{ errs []error }

func (a *ctxAuditor) Audit(ctx context.Context, _ audit.Entry) error {
	a.errs = append(a.errs, ctx.Err())
	return ctx.Err()
}
func (a *ctxAuditor) Reopen() error { return nil }
func (a *ctxAuditor) Close() error  { return nil }

// A client that goes away while its request is decided does not cancel
// the audit record: the auditor gets a context that is never cancelled
// (a remote auditor would otherwise drop the record of a decision taken).
func TestAuditOutlivesTheClient(t *testing.T) {
	a := &ctxAuditor{}
	s := &Signer{cfg: SignerConfig{Auditor: a, Site: "test", Log: logrus.NewEntry(logrus.New())}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the client disconnected
	d := &decision{req: &protocol.Request{ID: "694373eb775142e9ad9865d67c5e8e2d", CallerID: "up=bob"}}
	if err := s.audit(ctx, &SignRequest{Request: []byte(`{}`)}, d, nil, time.Now()); err != nil {
		t.Fatalf("audit after the client left: %v", err)
	}
	if len(a.errs) != 1 || a.errs[0] != nil {
		t.Fatalf("the auditor saw %v, want one live context", a.errs)
	}
}
