package emulate

import (
	"context"
	"sync"

	"github.com/tuttifleet/tutti/aaa/audit"
)

// AuditDiscard is the --audit value that encodes every audit record as
// the file auditor would and then drops it: the CPU of auditing without
// the disk.
const AuditDiscard = "discard"

// encodeDiscard is the AuditDiscard auditor. It keeps no state between
// records but a pool of encode buffers.
type encodeDiscard struct{}

var auditBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func (encodeDiscard) Audit(_ context.Context, e audit.Entry) error {
	bp := auditBufs.Get().(*[]byte)
	b, err := e.AppendAudit((*bp)[:0])
	*bp = b
	auditBufs.Put(bp)
	return err
}

func (encodeDiscard) Reopen() error { return nil }
func (encodeDiscard) Close() error  { return nil }

var _ audit.Auditor = encodeDiscard{}
