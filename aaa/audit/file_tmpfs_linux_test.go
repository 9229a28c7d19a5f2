package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// On a really full file system (a 64 KiB tmpfs, where this test may
// mount one), records that do not fit fail, and once space is freed
// again every line of the log is a whole record.
func TestFileFullTmpfs(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size=64k"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 40<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	a := newTestFile(t, FileConfig{Path: filepath.Join(dir, "audit.log")})
	ctx := context.Background()
	var written []string
	failed := 0
	for i := 0; i < 40 && failed < 3; i++ {
		r := rec(fmt.Sprintf("r%d", i))
		// 1,500 bytes of data: records end inside a page, so the one
		// that does not fit is written in part.
		r.Data = json.RawMessage(fmt.Sprintf(`{"pad":%q}`, bytes.Repeat([]byte("x"), 1500)))
		if err := a.Audit(ctx, r); err != nil {
			failed++
			continue
		}
		written = append(written, r.RequestID)
	}
	if failed == 0 {
		t.Fatal("the full tmpfs took every record")
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"after1", "after2"} {
		if err := a.Audit(ctx, rec(id)); err != nil {
			t.Fatalf("%s after space returned: %v", id, err)
		}
		written = append(written, id)
	}
	ids, torn := strictFile(t, a.path)
	if fmt.Sprint(ids) != fmt.Sprint(written) || torn != 0 {
		t.Fatalf("records %v, %d torn; want %v, none torn", ids, torn, written)
	}
}
