package external

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/agents"
	"github.com/tuttifleet/tutti/connector/protocol"
)

// install copies the tester agent into a fresh directory.
func install(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, mode := range map[string]os.FileMode{"tester": 0o755, "tester.json": 0o644} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(dir, name), mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

type syncBuffer struct {
	mu chan struct{}
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	return s.b.String()
}

func load(t *testing.T, dir string, o Options) (agents.Agent, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{mu: make(chan struct{}, 1)}
	l := logrus.New()
	l.SetOutput(logs)
	o.Log = logrus.NewEntry(l)
	a, err := Load(dir, "tester", o)
	if err != nil {
		t.Fatal(err)
	}
	return a, logs
}

func run(a agents.Agent, action, data string) agents.Reply {
	ctx, cancel := context.WithTimeout(context.Background(), a.Metadata().Timeout)
	defer cancel()
	return a.Run(ctx, action, &agents.Request{Agent: "tester", Action: action, Data: json.RawMessage(data),
		CallerID: "choria=alice.mcollective", SenderID: "alice.mcollective", RequestID: "r1", Collective: "mcollective",
		Time: time.Unix(1795357924, 0), TTL: time.Minute})
}

func dataOf(t *testing.T, rep agents.Reply) map[string]any {
	t.Helper()
	b, err := json.Marshal(rep.Data)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestExternalOK(t *testing.T) {
	a, _ := load(t, install(t), Options{})
	if a.Metadata().Timeout != 3*time.Second || len(a.Actions()) != 11 {
		t.Fatalf("metadata %+v actions %v", a.Metadata(), a.Actions())
	}
	rep := run(a, "ok", `{"name":"bob"}`)
	if rep.StatusCode != protocol.OK || rep.StatusMsg != "OK" {
		t.Fatalf("reply %+v", rep)
	}
	d := dataOf(t, rep)
	if d["greeting"] != "hello" || d["mood"] != "fine" {
		t.Fatalf("data %v", d)
	}
	req := d["request"].(map[string]any)
	want := map[string]any{"protocol": Protocol, "agent": "tester", "action": "ok", "caller": "choria=alice.mcollective",
		"sender": "alice.mcollective", "request_id": "r1", "collective": "mcollective", "time": 1795357924.0, "ttl": 60.0}
	for k, v := range want {
		if req[k] != v {
			t.Errorf("request %s = %v, want %v", k, req[k], v)
		}
	}
	// the DDL default reached the program
	if data := req["data"].(map[string]any); data["name"] != "bob" || data["times"] != 1.0 {
		t.Errorf("request data %v", data)
	}

	rep = run(a, "simple", `{}`)
	if rep.StatusCode != protocol.OK || dataOf(t, rep)["message"] != "hi" {
		t.Fatalf("simple form: %+v", rep)
	}
	rep = run(a, "refuse", `{}`)
	if rep.StatusCode != protocol.Aborted || rep.StatusMsg != "not today" {
		t.Fatalf("status from the program: %+v", rep)
	}
	rep = run(a, "env", `{}`)
	d = dataOf(t, rep)
	if d["path"] != strings.TrimPrefix(DefaultEnv[0], "PATH=") || d["home"] != "" || d["action"] != "env" || d["agent"] != "tester" {
		t.Fatalf("environment is not the fixed one: %v", d)
	}
	// invalid input never reaches the program
	rep = run(a, "ok", `{"name":"$(reboot)"}`)
	if rep.StatusCode != protocol.InvalidData {
		t.Fatalf("invalid input: %+v", rep)
	}
}

func TestExternalFailures(t *testing.T) {
	dir := install(t)
	a, logs := load(t, dir, Options{MaxOutput: 4096})
	for _, tc := range []struct{ action, want string }{
		{"crash", "external agent tester#crash was killed by signal segmentation fault"},
		{"garbage", `printed something that is not a JSON object: "this is not json"`},
		{"fail", "exited with status 3: disk on fire"},
		{"big", "printed more than 4096 bytes"},
		{"badstatus", "invalid statuscode 9"},
		{"silent", "printed nothing"},
		{"hang", "timed out after 3"},
	} {
		t.Run(tc.action, func(t *testing.T) {
			rep := run(a, tc.action, `{}`)
			if rep.StatusCode != protocol.UnknownError || !strings.Contains(rep.StatusMsg, tc.want) {
				t.Fatalf("got %d %q, want status 5 with %q", rep.StatusCode, rep.StatusMsg, tc.want)
			}
		})
	}
	// the hung program's child was killed with its process group
	b, err := os.ReadFile(filepath.Join(dir, "child.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("child %d of the hung agent is still running", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "stderr: disk on fire") {
		t.Fatalf("stderr not logged:\n%s", logs.String())
	}
}

func TestLoadRefusals(t *testing.T) {
	dir := install(t)
	if err := os.Chmod(filepath.Join(dir, "tester"), 0o775); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir, "tester", Options{}); err == nil || !strings.Contains(err.Error(), "writable by its group or others") {
		t.Fatalf("group-writable program: %v", err)
	}
	if err := os.Chmod(filepath.Join(dir, "tester"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir, "tester", Options{}); err == nil || !strings.Contains(err.Error(), "not executable") {
		t.Fatalf("non-executable program: %v", err)
	}
	if _, err := Load(dir, "../tester", Options{}); err == nil || !strings.Contains(err.Error(), "invalid name") {
		t.Fatalf("path as name: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "other.json"), []byte(`{"metadata":{"name":"tester"},"actions":[{"action":"a"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "other"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir, "other", Options{}); err == nil || !strings.Contains(err.Error(), `describes agent "tester"`) {
		t.Fatalf("DDL of another agent: %v", err)
	}
}

func TestScan(t *testing.T) {
	dir := install(t)
	for name, body := range map[string]string{
		"docs.json":   `{"metadata":{"name":"docs"},"actions":[{"action":"a"}]}`,
		"broken.json": `{"metadata":`, "broken": "#!/bin/sh\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f := Scan(dir, Options{})
	if len(f.Agents) != 1 || f.Agents["tester"] == nil {
		t.Fatalf("agents %v", f.Agents)
	}
	if len(f.DDLOnly) != 1 || f.DDLOnly[0] != "docs" {
		t.Fatalf("DDL only %v", f.DDLOnly)
	}
	if len(f.Errors) != 1 || !strings.Contains(f.Errors[0].Error(), "broken.json") {
		t.Fatalf("errors %v", f.Errors)
	}
	if f := Scan(filepath.Join(dir, "nope"), Options{}); len(f.Errors) != 0 || len(f.Agents) != 0 {
		t.Fatalf("missing dir: %+v", f)
	}
}
