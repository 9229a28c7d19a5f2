package audit

import (
	"context"
	"testing"
)

// countingEntry counts its encodings.
type countingEntry struct{ n *int }

func (c countingEntry) AppendAudit(b []byte) ([]byte, error) {
	*c.n++
	return append(b, `{"request_id":"r1"}`...), nil
}
func (countingEntry) AuditID() string { return "r1" }

// lineAuditor keeps the line of each record it is given.
type lineAuditor struct{ lines []string }

func (a *lineAuditor) Audit(_ context.Context, e Entry) error {
	b, err := e.AppendAudit(nil)
	a.lines = append(a.lines, string(b))
	return err
}
func (*lineAuditor) Reopen() error { return nil }
func (*lineAuditor) Close() error  { return nil }

// Multi encodes a record once for all its outputs (the file and the
// spool of a node), and each gets the same line; a Chain's stamped line
// is passed on as it is.
func TestMultiEncodesOnce(t *testing.T) {
	var n int
	a, b := &lineAuditor{}, &lineAuditor{}
	if err := Multi(a, b).Audit(context.Background(), countingEntry{&n}); err != nil {
		t.Fatal(err)
	}
	if n != 1 || len(a.lines) != 1 || len(b.lines) != 1 || a.lines[0] != `{"request_id":"r1"}` || a.lines[0] != b.lines[0] {
		t.Fatalf("encoded %d times; outputs got %q and %q", n, a.lines, b.lines)
	}
	raw := rawEntry{line: []byte(`{"seq":1}`), id: "r2"}
	if err := Multi(a, b).Audit(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
	if a.lines[1] != `{"seq":1}` || b.lines[1] != `{"seq":1}` {
		t.Fatalf("stamped line passed on as %q and %q", a.lines[1], b.lines[1])
	}
}
