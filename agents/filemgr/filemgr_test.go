package filemgr

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/agents"
	"github.com/tuttifleet/tutti/connector/protocol"
)

func build(t *testing.T, def string) agents.Agent {
	t.Helper()
	a, err := NewWith(def)
	if err != nil {
		t.Fatal(err)
	}
	a, err = agents.WithDDL(a, DDL)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func call(ctx context.Context, a agents.Agent, action string, in map[string]any) agents.Reply {
	data, _ := json.Marshal(in)
	return a.Run(ctx, action, &agents.Request{Agent: "filemgr", Action: action, Data: data})
}

func TestFilemgr(t *testing.T) {
	dir := t.TempDir()
	a := build(t, filepath.Join(dir, "default"))
	ctx := context.Background()
	p := filepath.Join(dir, "f")
	if rep := call(ctx, a, "touch", map[string]any{"file": p}); rep.StatusCode != protocol.OK {
		t.Fatalf("touch: %+v", rep)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	call(ctx, a, "touch", map[string]any{"file": p})
	st, _ := os.Stat(p)
	if time.Since(st.ModTime()) > time.Minute {
		t.Fatalf("touch did not update the mtime: %s", st.ModTime())
	}
	rep := call(ctx, a, "status", map[string]any{"file": p})
	d := rep.Data.(map[string]any)
	if rep.StatusCode != protocol.OK || d["md5"] != "d41d8cd98f00b204e9800998ecf8427e" || d["size"] != int64(0) || d["type"] != "file" {
		t.Fatalf("status: %+v", rep)
	}
	// a fifo is described, not read (no hang)
	fifo := filepath.Join(dir, "fifo")
	if err := mkfifo(fifo); err == nil {
		rep = call(ctx, a, "status", map[string]any{"file": fifo})
		if d := rep.Data.(map[string]any); rep.StatusCode != protocol.OK || d["type"] != "fifo" || d["md5"] != nil {
			t.Fatalf("fifo: %+v", rep)
		}
	}
	// the default file
	if rep := call(ctx, a, "touch", map[string]any{}); rep.StatusCode != protocol.OK {
		t.Fatalf("touch default: %+v", rep)
	}
	if rep := call(ctx, a, "remove", map[string]any{}); rep.StatusCode != protocol.OK {
		t.Fatalf("remove default: %+v", rep)
	}
	// a slow digest ends with the action's timeout
	short, cancel := context.WithCancel(ctx)
	cancel()
	rep = call(short, a, "status", map[string]any{"file": p})
	if rep.StatusCode != protocol.Aborted || !strings.Contains(rep.StatusMsg, "longer than the action's timeout") {
		t.Fatalf("cancelled digest: %+v", rep)
	}
}

type validator interface {
	ValidateInput(string, json.RawMessage) (json.RawMessage, protocol.StatusCode, string)
}

func TestPathsRefused(t *testing.T) {
	dir := t.TempDir()
	a := build(t, filepath.Join(dir, "default"))
	inner, _ := NewWith(filepath.Join(dir, "default"))
	for _, bad := range []string{"", "rel/path", "../etc/passwd", "/tmp/../etc/passwd", "/tmp/./x", "/tmp//x", "/tmp/", "/etc/passwd\x00",
		"/" + strings.Repeat("a", MaxPathLength)} {
		for _, action := range []string{"status", "touch", "remove"} {
			_, code, msg := a.(validator).ValidateInput(action, json.RawMessage(`{"file":`+quote(bad)+`}`))
			// the DDL checks absolute, no NUL, length; the agent the rest
			rep := call(context.Background(), inner, action, map[string]any{"file": bad})
			if rep.StatusCode != protocol.InvalidData || !strings.Contains(rep.StatusMsg, "Validation failed: file:") {
				t.Errorf("%s %q: %+v (DDL: %d %s)", action, bad, rep, code, msg)
			}
		}
	}
	if _, err := NewWith("relative"); err == nil {
		t.Fatal("a relative default file was accepted")
	}
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

func FuzzValidPath(f *testing.F) {
	for _, s := range []string{"/etc/motd", "/", "/a/../b", "a", "/a//b", "/a\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidPath(s) != nil {
			return
		}
		if !filepath.IsAbs(s) || strings.Contains(s, "\x00") || strings.Contains(s, "/../") || strings.HasSuffix(s, "/..") || filepath.Clean(s) != s {
			t.Fatalf("ValidPath accepted %q", s)
		}
		if _, err := DDL.Validate("status", json.RawMessage(`{"file":`+quote(s)+`}`)); err != nil && len(s) <= MaxPathLength {
			t.Fatalf("ValidPath accepts %q but the DDL refuses it: %v", s, err)
		}
	})
}
