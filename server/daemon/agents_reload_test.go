package daemon_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/client"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/server/sdnotify/systemdtest"
)

// writeAgent installs an external agent: a DDL with actions, each
// answering {"said": word}, and a sh program.
func writeAgent(t *testing.T, dir, name, word string, actions ...string) {
	t.Helper()
	var acts []string
	script := "#!/bin/sh\ncat >/dev/null\ncase \"$1\" in\n"
	for _, a := range actions {
		acts = append(acts, `{"action": "`+a+`", "description": "says a word", "input": {}, "output": {"said": {"description": "the word", "display_as": "Said", "type": "string"}}}`)
		script += a + `) echo '{"said":"` + word + `"}' ;;` + "\n"
	}
	script += "*) exit 1 ;;\nesac\n"
	ddl := `{"metadata": {"name": "` + name + `", "description": "test agent", "author": "tutti", "license": "Apache-2.0",
	  "version": "1.0.0", "url": "https://example.net", "timeout": 5}, "actions": [` + strings.Join(acts, ",") + `]}`
	write(t, filepath.Join(dir, name+".json"), ddl)
	write(t, filepath.Join(dir, name), script)
	if err := os.Chmod(filepath.Join(dir, name), 0o755); err != nil {
		t.Fatal(err)
	}
}

// broadcast sends agent#action to the collective (no directed request,
// so the node's broadcast subscription for the agent is what delivers
// it) and returns the node's reply, or nil when none came.
func (f *fleet) broadcast(t *testing.T, agent, action string) *protocol.RPCReply {
	t.Helper()
	var got *protocol.RPCReply
	_, err := f.client.Do(context.Background(), client.Request{Agent: agent, Action: action, Filter: protocol.NewFilter(agent),
		Expect: 1, Timeout: 1500 * time.Millisecond}, func(r client.Result) {
		if r.State != client.Verified {
			t.Errorf("reply not verified: %v", r.Err)
		}
		got = r.RPC
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func said(t *testing.T, r *protocol.RPCReply) string {
	t.Helper()
	if r == nil {
		t.Fatal("no reply")
	}
	var d struct{ Said string }
	if err := json.Unmarshal(r.Data, &d); err != nil || r.StatusCode != protocol.OK {
		t.Fatalf("reply %d %q %s: %v", r.StatusCode, r.StatusMsg, r.Data, err)
	}
	return d.Said
}

// TestExternalAgentsRescanOnSIGHUP: a reload picks up new external
// agents, drops removed ones, applies changed DDLs and programs, and
// skips invalid agents with a log line, as at start.
func TestExternalAgentsRescanOnSIGHUP(t *testing.T) {
	sd := systemdtest.Listen(t)
	const agentsConf = "plugin.tutti.agents_dir = agents\n"
	f := startFleet(t, sd, agentsConf) // the agents directory does not exist yet
	hup := func() {
		t.Helper()
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		sd.WaitFor(t, "RELOADING=1")
		sd.WaitFor(t, "READY=1")
	}
	for _, a := range []string{"hello", "bye"} {
		write(t, filepath.Join(f.dir, "policies", a+".policy"), policyAllow)
	}
	writeAgent(t, filepath.Join(f.dir, "agents"), "hello", "v1", "greet")
	if r := f.broadcast(t, "hello", "greet"); r != nil {
		t.Fatalf("hello answered before the reload: %+v", r)
	}
	hup()
	agentsDir := filepath.Join(f.dir, "agents")
	if got := said(t, f.broadcast(t, "hello", "greet")); got != "v1" {
		t.Fatalf("hello#greet said %q", got)
	}
	if r := f.broadcast(t, "bye", "wave"); r != nil {
		t.Fatalf("bye answered before it was installed: %+v", r)
	}

	// a new agent, a changed program and DDL (a new action), and a
	// broken agent
	writeAgent(t, agentsDir, "bye", "ciao", "wave")
	writeAgent(t, agentsDir, "hello", "v2", "greet", "shout")
	write(t, filepath.Join(agentsDir, "broken.json"), "{not json")
	write(t, filepath.Join(agentsDir, "broken"), "#!/bin/sh\n")
	hup()
	if got := said(t, f.broadcast(t, "bye", "wave")); got != "ciao" {
		t.Fatalf("new agent bye#wave said %q", got)
	}
	if got := said(t, f.broadcast(t, "hello", "shout")); got != "v2" {
		t.Fatalf("changed agent hello#shout said %q", got)
	}
	if got := said(t, f.broadcast(t, "rpcutil", "ping")); got != "" {
		t.Fatalf("rpcutil#ping %q", got) // built-in agents stay
	}
	if l := grep(f.log(t), "external agent not loaded"); !strings.Contains(l, "broken") {
		t.Fatalf("broken agent not logged: %q", l)
	}
	if l := f.log(t); !strings.Contains(l, "reload complete") {
		t.Fatalf("a broken external agent made the reload fail:\n%s", grep(l, "reload"))
	}

	// a removed agent disappears
	for _, n := range []string{"hello", "hello.json"} {
		if err := os.Remove(filepath.Join(agentsDir, n)); err != nil {
			t.Fatal(err)
		}
	}
	hup()
	if r := f.broadcast(t, "hello", "greet"); r != nil {
		t.Fatalf("removed agent hello still answers: %+v", r)
	}
	if got := said(t, f.broadcast(t, "bye", "wave")); got != "ciao" {
		t.Fatalf("bye#wave after removing hello said %q", got)
	}

	// a refused reload (invalid file) does not rescan
	writeAgent(t, agentsDir, "late", "x", "go")
	write(t, filepath.Join(f.dir, "policies", "late.policy"), policyAllow)
	write(t, f.conf, f.nodeConfig(agentsConf+"rpcauthorisation = 0\n"))
	hup()
	if r := f.broadcast(t, "late", "go"); r != nil {
		t.Fatalf("a refused reload loaded a new agent: %+v", r)
	}
}
