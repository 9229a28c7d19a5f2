package service

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tuttifleet/tutti/agents"
	"github.com/tuttifleet/tutti/connector/protocol"
)

// fake installs the fake systemctl in a fresh directory.
func fake(t *testing.T) (systemctl, dir string) {
	t.Helper()
	dir = t.TempDir()
	b, err := os.ReadFile("testdata/systemctl")
	if err != nil {
		t.Fatal(err)
	}
	systemctl = filepath.Join(dir, "systemctl")
	if err := os.WriteFile(systemctl, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return systemctl, dir
}

type validator interface {
	ValidateInput(string, json.RawMessage) (json.RawMessage, protocol.StatusCode, string)
}

func build(t *testing.T, systemctl string) agents.Agent {
	t.Helper()
	a, err := NewWith(systemctl)
	if err != nil {
		t.Fatal(err)
	}
	a, err = agents.WithDDL(a, DDL)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func call(a agents.Agent, action, svc string) agents.Reply {
	data, _ := json.Marshal(map[string]string{"service": svc})
	return a.Run(context.Background(), action, &agents.Request{Agent: "service", Action: action, Data: data})
}

func TestService(t *testing.T) {
	systemctl, dir := fake(t)
	a := build(t, systemctl)
	for _, step := range []struct{ action, svc, status string }{
		{"status", "nginx.service", "stopped"},
		{"start", "nginx.service", "running"},
		{"status", "nginx.service", "running"},
		{"restart", "nginx.service", "running"},
		{"stop", "nginx.service", "stopped"},
		{"start", "getty@tty1.service", "running"},
	} {
		rep := call(a, step.action, step.svc)
		if rep.StatusCode != protocol.OK || rep.Data.(map[string]string)["status"] != step.status {
			t.Fatalf("%s %s: %+v", step.action, step.svc, rep)
		}
	}
	rep := call(a, "status", "nginx.service")
	if d := rep.Data.(map[string]string); d["unit_file_state"] != "enabled" || d["load_state"] != "loaded" || d["sub_state"] != "dead" {
		t.Fatalf("status details %+v", d)
	}
	rep = call(a, "start", "broken.service")
	if rep.StatusCode != protocol.Aborted || !strings.Contains(rep.StatusMsg, "Could not start broken.service: systemctl exited with status 1: Job for broken.service failed") {
		t.Fatalf("failed start: %+v", rep)
	}
	rep = call(a, "status", "missing.service")
	if rep.StatusCode != protocol.Aborted || !strings.Contains(rep.StatusMsg, "systemd does not know this unit") {
		t.Fatalf("unknown unit: %+v", rep)
	}
	calls, err := os.ReadFile(filepath.Join(dir, "calls.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(calls), "start -- nginx.service\n") || !strings.Contains(string(calls), "show --property=LoadState,ActiveState,SubState,UnitFileState -- nginx.service\n") {
		t.Fatalf("systemctl calls:\n%s", calls)
	}
}

func TestServiceNamesRefused(t *testing.T) {
	systemctl, dir := fake(t)
	a := build(t, systemctl)
	for _, bad := range []string{
		"", "-H", "--host=evil", "../../etc/passwd", "/etc/passwd", "nginx;reboot", "nginx service", "$(reboot)",
		"a`id`", "nginx|cat", "nginx\n", "..", "ünicode", strings.Repeat("a", MaxNameLength+1),
	} {
		_, code, msg := a.(validator).ValidateInput("restart", json.RawMessage(`{"service":`+quote(bad)+`}`))
		if code != protocol.InvalidData && !(bad == "" && code == protocol.InvalidData) {
			t.Errorf("%q passed the DDL: %d %s", bad, code, msg)
		}
		// and the agent refuses it on its own (defence in depth)
		for _, action := range []string{"start", "stop", "restart", "status"} {
			inner, _ := NewWith(systemctl)
			rep := call(inner, action, bad)
			if rep.StatusCode != protocol.InvalidData || !strings.Contains(rep.StatusMsg, "Validation failed: service:") {
				t.Errorf("%s %q: %+v", action, bad, rep)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "calls.log")); !os.IsNotExist(err) {
		t.Fatalf("systemctl ran for a refused name: %v", err)
	}
	if err := ValidName(strings.Repeat("a", MaxNameLength)); err != nil {
		t.Fatalf("longest name refused: %v", err)
	}
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

func TestRelativeSystemctlRefused(t *testing.T) {
	if _, err := NewWith("bin/systemctl"); err == nil || !strings.Contains(err.Error(), "must be an absolute path") {
		t.Fatalf("relative systemctl: %v", err)
	}
}

func FuzzValidName(f *testing.F) {
	for _, s := range []string{"nginx", "-x", "a/b", "getty@tty1.service", "..", "a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidName(s)
		_, dErr := DDL.Validate("status", json.RawMessage(`{"service":`+quote(s)+`}`))
		if err == nil {
			if strings.HasPrefix(s, "-") || strings.ContainsAny(s, "/ \t\n;|&$`\\'\"") || len(s) > MaxNameLength {
				t.Fatalf("ValidName accepted %q", s)
			}
			if dErr != nil {
				t.Fatalf("ValidName accepts %q but the DDL refuses it: %v", s, dErr)
			}
		}
	})
}
