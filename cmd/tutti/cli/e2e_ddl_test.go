package cli

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/client"
	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/connector/dial"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server/daemon"
)

// ddlFleet is a fleet whose nodes each have a fake systemctl (in
// Dir/<node>/systemctl, calls logged beside it) and the shell-script
// external agent "tester" (in Dir/agents).
func ddlFleet(t *testing.T, n int) *Fleet {
	t.Helper()
	f := startFleet(t, n)
	agentsDir := filepath.Join(f.Dir, "agents")
	copyFile(t, "../../../agents/external/testdata/tester", filepath.Join(agentsDir, "tester"), 0o755)
	copyFile(t, "../../../agents/external/testdata/tester.json", filepath.Join(agentsDir, "tester.json"), 0o644)
	allowDemo := "policy default deny\nallow\tchoria=demo.mcollective\t*\t*\t*\n"
	for _, agent := range []string{"service", "tester"} {
		if err := writeFile(filepath.Join(f.Dir, "policies", agent+".policy"), allowDemo, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, old := range f.Nodes {
		name := old.Identity()
		systemctl := filepath.Join(f.Dir, name, "systemctl")
		copyFile(t, "../../../agents/service/testdata/systemctl", systemctl, 0o755)
		conf := filepath.Join(f.Dir, name+".conf")
		fh, err := os.OpenFile(conf, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = fh.WriteString("plugin.tutti.agents_dir = " + agentsDir + "\nplugin.tutti.service.systemctl = " + systemctl + "\n")
		fh.Close()
		if err != nil {
			t.Fatal(err)
		}
		old.Shutdown(ctx)
		cfg, file, err := config.LoadServer(conf)
		if err != nil {
			t.Fatal(err)
		}
		nl := logrus.New()
		nl.SetOutput(f.NodeLog)
		nl.SetFormatter(&logrus.TextFormatter{DisableTimestamp: true, DisableColors: true})
		node, err := daemon.BuildNode(ctx, cfg, file, logrus.NewEntry(nl).WithField("node", name))
		if err != nil {
			t.Fatalf("restart %s: %v", name, err)
		}
		f.Nodes[i] = node
		t.Cleanup(func() { node.Shutdown(context.Background()) })
	}
	return f
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeFile(to, string(b), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(to, mode); err != nil {
		t.Fatal(err)
	}
}

type ddlRPCDoc struct {
	Replies []rpcResult `json:"replies"`
	NoReply []string    `json:"no_reply"`
}

func rpcJSON(t *testing.T, wantCode int, args ...string) ddlRPCDoc {
	t.Helper()
	code, out, stderr := runCLI(t, append(args, "--json")...)
	if code != wantCode {
		t.Fatalf("tutti %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, wantCode, out, stderr)
	}
	var doc ddlRPCDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("tutti %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return doc
}

func TestE2EServiceAgent(t *testing.T) {
	f := ddlFleet(t, 2)
	conf := filepath.Join(f.Dir, "demo.conf")

	doc := rpcJSON(t, ExitOK, "service", "start", "nginx.service", "--config", conf)
	if len(doc.Replies) != 2 {
		t.Fatalf("replies %+v", doc)
	}
	for _, r := range doc.Replies {
		var d map[string]string
		if err := json.Unmarshal(r.Data, &d); err != nil || r.StatusCode != protocol.OK || d["status"] != "running" {
			t.Fatalf("start: %+v", r)
		}
	}
	// only node1 stops it; status then differs per node
	rpcJSON(t, ExitOK, "service", "stop", "nginx.service", "-I", "node1.demo.example.net", "--config", conf)
	doc = rpcJSON(t, ExitOK, "rpc", "service", "status", "service=nginx.service", "--config", conf)
	states := map[string]string{}
	for _, r := range doc.Replies {
		var d map[string]string
		_ = json.Unmarshal(r.Data, &d)
		states[r.Sender] = d["status"]
	}
	if states["node1.demo.example.net"] != "stopped" || states["node2.demo.example.net"] != "running" {
		t.Fatalf("states %v", states)
	}
	var stateReplies []rpcResult
	stateReplies = append(stateReplies, doc.Replies...)
	if got := ddlAggregates(nil, "service", "status", stateReplies); !slices.Equal(got, []string{"Summary of Service Status:", "",
		"   running = 1", "   stopped = 1", "", "Summary of Enabled:", "", "   enabled = 2"}) {
		t.Fatalf("aggregates %q", got)
	}
	// a unit systemd does not know is a failure with the reason
	doc = rpcJSON(t, ExitFailed, "service", "restart", "broken.service", "--config", conf)
	if r := doc.Replies[0]; r.StatusCode != protocol.Aborted || !strings.Contains(r.StatusMsg, "Could not restart broken.service") {
		t.Fatalf("broken: %+v", r)
	}

	// the CLI refuses bad names before sending anything
	for _, bad := range []string{"nginx;reboot", "../../bin/sh", "-Hevil"} {
		code, _, stderr := runCLI(t, "service", "restart", "--config", conf, "--", bad)
		if code != ExitUsage || !strings.Contains(stderr, "service name") {
			t.Fatalf("service restart %q: exit %d %s", bad, code, stderr)
		}
		code, _, stderr = runCLI(t, "rpc", "service", "restart", "service="+bad, "--config", conf)
		if code != ExitUsage || !strings.Contains(stderr, "invalid input service") {
			t.Fatalf("rpc service restart %q: exit %d %s", bad, code, stderr)
		}
	}
	before := callsLogs(t, f)

	// the nodes refuse them too: status 4 and systemctl never runs
	cl := testClient(t, conf)
	for _, bad := range []string{"nginx;reboot", "../../bin/sh", "-H", "--host=evil", "a b", strings.Repeat("x", 300)} {
		data, _ := json.Marshal(map[string]string{"service": bad})
		var results []client.Result
		_, err := cl.Do(context.Background(), client.Request{Agent: "service", Action: "restart", Data: data,
			Filter: protocol.NewFilter("service"), Targets: []string{"node1.demo.example.net", "node2.demo.example.net"},
			Expect: 2, Timeout: 5 * time.Second}, func(r client.Result) { results = append(results, r) })
		if err != nil {
			t.Fatal(err)
		}
		if len(results) != 2 {
			t.Fatalf("%q: %d replies", bad, len(results))
		}
		for _, r := range results {
			if r.RPC == nil || r.RPC.StatusCode != protocol.InvalidData || !strings.Contains(r.RPC.StatusMsg, "Validation failed: service") {
				t.Fatalf("%q from %s: %+v", bad, r.Sender, r.RPC)
			}
		}
	}
	if after := callsLogs(t, f); after != before {
		t.Fatalf("systemctl ran for refused names:\n%s", strings.TrimPrefix(after, before))
	}
}

// callsLogs returns every node's fake systemctl call log.
func callsLogs(t *testing.T, f *Fleet) string {
	t.Helper()
	var all strings.Builder
	for _, n := range f.Nodes {
		b, err := os.ReadFile(filepath.Join(f.Dir, n.Identity(), "calls.log"))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		all.Write(b)
	}
	return all.String()
}

// testClient is a client signing as demo.mcollective, for requests the
// CLI would refuse to send.
func testClient(t *testing.T, conf string) *client.Client {
	t.Helper()
	cfg, _, err := config.LoadClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	p, err := x509.New(x509.ConfigFrom(cfg.Security))
	if err != nil {
		t.Fatal(err)
	}
	l := logrus.New()
	l.SetOutput(io.Discard)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := dial.Open(ctx, dial.ConfigFrom(&cfg.Common), p, logrus.NewEntry(l))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	cl, err := client.New(client.Options{Connector: conn, Signer: &client.LocalSigner{Signer: p, Caller: "choria=demo.mcollective"},
		Verifier: p, Identity: cfg.Identity, Collective: cfg.MainCollective})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func TestE2EExternalAgent(t *testing.T) {
	f := ddlFleet(t, 2)
	conf := filepath.Join(f.Dir, "demo.conf")

	doc := rpcJSON(t, ExitOK, "rpc", "tester", "ok", "name=bob", "--config", conf)
	if len(doc.Replies) != 2 {
		t.Fatalf("replies %+v", doc)
	}
	for _, r := range doc.Replies {
		var d struct {
			Greeting string `json:"greeting"`
			Mood     string `json:"mood"`
			Request  struct {
				Caller string         `json:"caller"`
				Data   map[string]any `json:"data"`
			} `json:"request"`
		}
		if err := json.Unmarshal(r.Data, &d); err != nil {
			t.Fatal(err)
		}
		if d.Greeting != "hello" || d.Mood != "fine" || d.Request.Caller != "choria=demo.mcollective" || d.Request.Data["times"] != 1.0 {
			t.Fatalf("reply from %s: %s", r.Sender, r.Data)
		}
	}

	// the client has no DDL for tester: the nodes validate (status 4)
	doc = rpcJSON(t, ExitFailed, "rpc", "tester", "ok", "name=BOB", "--config", conf)
	for _, r := range doc.Replies {
		if r.StatusCode != protocol.InvalidData || !strings.Contains(r.StatusMsg, `name: "BOB" does not match`) {
			t.Fatalf("invalid input: %+v", r)
		}
	}

	for _, tc := range []struct{ action, want string }{
		{"hang", "external agent tester#hang timed out after 3"},
		{"crash", "external agent tester#crash was killed by signal"},
		{"garbage", "printed something that is not a JSON object"},
		{"fail", "exited with status 3: disk on fire"},
	} {
		started := time.Now()
		doc = rpcJSON(t, ExitFailed, "rpc", "tester", tc.action, "--config", conf)
		if len(doc.Replies) != 2 {
			t.Fatalf("%s: replies %+v", tc.action, doc)
		}
		for _, r := range doc.Replies {
			if r.StatusCode != protocol.UnknownError || !strings.Contains(r.StatusMsg, tc.want) {
				t.Fatalf("%s: %+v", tc.action, r)
			}
		}
		if tc.action == "hang" && time.Since(started) > 8*time.Second {
			t.Fatalf("hang took %s; the DDL timeout is 1s", time.Since(started))
		}
	}
	if len(f.NodeLog.Lines("stderr: disk on fire")) != 2 {
		t.Fatalf("the agent's stderr is not in the node logs:\n%s", strings.Join(f.NodeLog.Lines("tester"), "\n"))
	}

	// with the DDL in the client's agents_dir, the CLI checks and types inputs itself
	if err := writeFile(conf, mustRead(t, conf)+"plugin.tutti.agents_dir = "+filepath.Join(f.Dir, "agents")+"\n", 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rpc", "tester", "ok", "name=BOB"}, `invalid input name: "BOB" does not match`},
		{[]string{"rpc", "tester", "ok", "name=bob", "times=often"}, `invalid input times: "often" is not an integer`},
		{[]string{"rpc", "tester", "ok"}, "tester#ok needs the input name"},
		{[]string{"rpc", "tester", "ok", "nmae=bob"}, `tester#ok has no input "nmae"; its inputs are name, times`},
		{[]string{"rpc", "tester", "nope"}, `agent tester has no action "nope"`},
	} {
		code, _, stderr := runCLI(t, append(tc.args, "--config", conf)...)
		if code != ExitUsage || !strings.Contains(stderr, tc.want) {
			t.Fatalf("tutti %s: exit %d %q, want %q", strings.Join(tc.args, " "), code, stderr, tc.want)
		}
	}
	doc = rpcJSON(t, ExitOK, "rpc", "tester", "ok", "name=bob", "times=3", "--config", conf)
	if !strings.Contains(string(doc.Replies[0].Data), `"times": 3`) {
		t.Fatalf("times not sent as an integer: %s", doc.Replies[0].Data)
	}
	code, out, stderr := runCLI(t, "plugin", "doc", "tester/ok", "--config", conf)
	if code != ExitOK || !strings.Contains(out, "tester#ok: Replies in the full form") || !strings.Contains(out, "name (string, required)") {
		t.Fatalf("plugin doc: %d %s %s", code, out, stderr)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPluginDoc(t *testing.T) {
	code, out, _ := runCLI(t, "plugin", "doc", "rpcutil/get_fact")
	if code != ExitOK || !strings.Contains(out, "rpcutil#get_fact: Retrieve a single fact") || !strings.Contains(out, "Max length: 512") ||
		!strings.Contains(out, "Example: tutti rpc rpcutil get_fact fact=STRING") {
		t.Fatalf("doc get_fact: %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, "plugin", "doc", "discovery")
	if code != ExitOK || !strings.Contains(out, "discovery — Answers broadcast discovery") {
		t.Fatalf("doc discovery: %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, "plugin", "doc", "service", "--json")
	var d struct {
		Metadata struct{ Name string } `json:"metadata"`
		Actions  []struct{ Action string }
	}
	if code != ExitOK || json.Unmarshal([]byte(out), &d) != nil || d.Metadata.Name != "service" || len(d.Actions) != 4 {
		t.Fatalf("doc --json: %d\n%s", code, out)
	}
	for _, tc := range []struct{ arg, want string }{
		{"nosuch", "agent nosuch: no DDL found"},
		{"service/reload", `agent service has no action "reload"; its actions are restart, start, status, stop`},
		{"Bad-Name", `invalid agent name "Bad-Name"`},
	} {
		code, _, stderr := runCLI(t, "plugin", "doc", tc.arg)
		if code != ExitUsage || !strings.Contains(stderr, tc.want) {
			t.Fatalf("doc %s: %d %q", tc.arg, code, stderr)
		}
	}
	// a built-in DDL is checked client-side without any configuration
	code, _, stderr := runCLI(t, "rpc", "rpcutil", "get_fact", "--config", "/nonexistent/client.conf")
	if code != ExitUsage || !strings.Contains(stderr, "rpcutil#get_fact needs the input fact (fact=…)") {
		t.Fatalf("rpc without the required input: %d %q", code, stderr)
	}
}
