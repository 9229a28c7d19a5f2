package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
)

// strictFile returns the request IDs of the records in path, failing on
// any line a strict reader would refuse, except those listed as torn
// (whose count it returns).
func strictFile(t *testing.T, path string) (ids []string, torn int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Fatalf("%s does not end with a newline: %q", path, data)
	}
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		line = line[:len(line)-1]
		if err := strictLine(line); err != nil {
			torn++
			continue
		}
		var r struct {
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.RequestID)
	}
	return ids, torn
}

// shortWrite makes a write put out part of the batch, then
// fail with ENOSPC, as write(2) does on a full disk.
func shortWrite(f *os.File, p []byte) (int, error) {
	n, err := f.Write(p[:len(p)/2])
	if err != nil {
		return n, err
	}
	return n, fmt.Errorf("write %s: %w", f.Name(), syscall.ENOSPC)
}

// A write that fails part way is cut off again: the file holds whole
// records only, the failed one is reported, the next is written whole.
func TestFileShortWriteTruncated(t *testing.T) {
	a := newTestFile(t, FileConfig{})
	ctx := context.Background()
	if err := a.Audit(ctx, rec("r1")); err != nil {
		t.Fatal(err)
	}
	a.write = shortWrite
	if err := a.Audit(ctx, rec("r2")); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("short write: err %v, want ENOSPC", err)
	}
	a.write = (*os.File).Write
	for _, id := range []string{"r3", "r4"} {
		if err := a.Audit(ctx, rec(id)); err != nil {
			t.Fatal(err)
		}
	}
	ids, torn := strictFile(t, a.path)
	if fmt.Sprint(ids) != "[r1 r3 r4]" || torn != 0 {
		t.Fatalf("records %v, %d torn; want [r1 r3 r4], none torn", ids, torn)
	}
}

// When the torn record cannot be cut off, the next record starts on a
// new line: only the torn one is lost.
func TestFileShortWriteTruncateFails(t *testing.T) {
	a := newTestFile(t, FileConfig{})
	ctx := context.Background()
	if err := a.Audit(ctx, rec("r1")); err != nil {
		t.Fatal(err)
	}
	a.write = shortWrite
	a.truncate = func(*os.File, int64) error { return syscall.EIO }
	for _, id := range []string{"r2", "r3"} { // a torn write after a torn write
		if err := a.Audit(ctx, rec(id)); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("short write %s: err %v, want ENOSPC", id, err)
		}
	}
	a.write = (*os.File).Write
	for _, id := range []string{"r4", "r5"} {
		if err := a.Audit(ctx, rec(id)); err != nil {
			t.Fatal(err)
		}
	}
	ids, torn := strictFile(t, a.path)
	if fmt.Sprint(ids) != "[r1 r4 r5]" || torn != 2 {
		t.Fatalf("records %v, %d torn; want [r1 r4 r5], 2 torn", ids, torn)
	}
	data, _ := os.ReadFile(a.path)
	if bytes.Contains(data, []byte("\n\n")) {
		t.Fatalf("empty line in %q", data)
	}
}

// A torn tail stays in the file it was written to: a rotated file does
// not start with an empty line.
func TestFileTornThenRotated(t *testing.T) {
	a := newTestFile(t, FileConfig{})
	ctx := context.Background()
	a.write = shortWrite
	a.truncate = func(*os.File, int64) error { return syscall.EIO }
	if err := a.Audit(ctx, rec("r1")); err == nil {
		t.Fatal("short write reported no error")
	}
	a.write = (*os.File).Write
	if err := os.Rename(a.path, a.path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := a.Reopen(); err != nil {
		t.Fatal(err)
	}
	if err := a.Audit(ctx, rec("r2")); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(a.path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.HasPrefix(data, []byte("\n")) {
		t.Fatalf("rotated file starts with an empty line: %q", data)
	}
}

// /dev/full fails every write with ENOSPC: each record is an error.
func TestFileDevFull(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skipf("no /dev/full: %v", err)
	}
	a, err := NewFile(FileConfig{Path: "/dev/full"}, nil)
	if err != nil {
		t.Skipf("cannot open /dev/full: %v", err)
	}
	defer a.Close()
	for _, id := range []string{"r1", "r2"} {
		if err := a.Audit(context.Background(), rec(id)); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("%s: err %v, want ENOSPC", id, err)
		}
	}
}

// A record the file failed to store does not use up a chain seq: the
// next record continues from the last one written, and the file
// verifies with no gap, with or without a torn line left behind.
func TestChainFailedWriteKeepsSeq(t *testing.T) {
	for _, cut := range []bool{true, false} {
		t.Run(fmt.Sprintf("truncated=%v", cut), func(t *testing.T) {
			a := newTestFile(t, FileConfig{})
			c, err := NewChain(ChainConfig{Writer: "node1", Interval: -1, Records: -1}, a, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if err := c.Audit(ctx, rec("r1")); err != nil {
				t.Fatal(err)
			}
			a.write = shortWrite
			if !cut {
				a.truncate = func(*os.File, int64) error { return syscall.EIO }
			}
			if err := c.Audit(ctx, rec("r2")); !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("short write: err %v, want ENOSPC", err)
			}
			if seq, _ := c.Head(); seq != 1 {
				t.Fatalf("seq after a failed write %d, want 1", seq)
			}
			a.write, a.truncate = (*os.File).Write, (*os.File).Truncate
			if err := c.Audit(ctx, rec("r3")); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(a.path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			v := NewVerifier(nil)
			if err := v.ReadFrom("audit.log", f); err != nil {
				t.Fatal(err)
			}
			r := v.Report()
			wantProblems := 0
			if !cut {
				wantProblems = 1 // the torn line is malformed, nothing more
			}
			if len(r.Problems) != wantProblems || len(r.Writers) != 1 || r.Writers[0].LastSeq != 2 || r.Writers[0].Records != 2 {
				t.Fatalf("report %+v, want seq 1-2 and %d problems", r, wantProblems)
			}
			if wantProblems == 1 && r.Problems[0].Kind != ProblemMalformed {
				t.Fatalf("problem %v, want the torn line as malformed", r.Problems[0])
			}
		})
	}
}

// A record stored by one sink of Multi and missed by another advances
// the chain: the sink that missed it shows the gap.
func TestChainPartlyStoredAdvances(t *testing.T) {
	a := newTestFile(t, FileConfig{})
	c, err := NewChain(ChainConfig{Writer: "node1", Interval: -1, Records: -1}, Multi(a, &failing{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Audit(context.Background(), rec("r1"))
	if err == nil || !errors.Is(err, ErrPartlyStored) {
		t.Fatalf("err %v, want ErrPartlyStored", err)
	}
	if seq, _ := c.Head(); seq != 1 {
		t.Fatalf("seq %d, want 1", seq)
	}
	c2, err := NewChain(ChainConfig{Writer: "node2", Interval: -1, Records: -1}, Multi(&failing{}, &failing{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.Audit(context.Background(), rec("r1")); errors.Is(err, ErrPartlyStored) || err == nil {
		t.Fatalf("err %v, want the sinks' errors only", err)
	}
	if seq, head := c2.Head(); seq != 0 || head != "" {
		t.Fatalf("seq %d head %q after a record stored nowhere, want 0 and none", seq, head)
	}
}
