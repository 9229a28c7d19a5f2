package cli

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/client"
	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/server/daemon"
)

// day1Fleet is a fleet whose nodes allow demo.mcollective the package,
// process and filemgr agents, restarted with extra(node) appended to
// each node's configuration.
func day1Fleet(t *testing.T, n int, extra func(node string) string) *Fleet {
	t.Helper()
	f := startFleet(t, n)
	allowDemo := "policy default deny\nallow\tchoria=demo.mcollective\t*\t*\t*\n"
	for _, agent := range []string{"package", "process", "filemgr"} {
		if err := writeFile(filepath.Join(f.Dir, "policies", agent+".policy"), allowDemo, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return restartNodes(t, f, func(_ int, name string) string { return extra(name) })
}

// restartNodes restarts each node of f with extra(i, node) appended to
// its configuration, logging to the fleet's node log.
func restartNodes(t *testing.T, f *Fleet, extra func(i int, node string) string) *Fleet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, old := range f.Nodes {
		name := old.Identity()
		conf := filepath.Join(f.Dir, name+".conf")
		if err := writeFile(conf, mustRead(t, conf)+extra(i, name), 0o644); err != nil {
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

func replyMap(t *testing.T, r rpcResult) map[string]any {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal(r.Data, &d); err != nil {
		t.Fatalf("reply from %s: %v: %s", r.Sender, err, r.Data)
	}
	return d
}

// nodeRefuses sends data to agent#action on every node without the
// CLI's checks and wants status 4 with want in the message from each.
func nodeRefuses(t *testing.T, f *Fleet, conf, agent, action string, data map[string]any, want string) {
	t.Helper()
	b, _ := json.Marshal(data)
	var results []client.Result
	var targets []string
	for _, n := range f.Nodes {
		targets = append(targets, n.Identity())
	}
	_, err := testClient(t, conf).Do(context.Background(), client.Request{Agent: agent, Action: action, Data: b,
		Filter: protocol.NewFilter(agent), Targets: targets, Expect: len(targets), Timeout: 5 * time.Second},
		func(r client.Result) { results = append(results, r) })
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != len(targets) {
		t.Fatalf("%s#%s %s: %d replies", agent, action, b, len(results))
	}
	for _, r := range results {
		if r.RPC == nil || r.RPC.StatusCode != protocol.InvalidData || !strings.Contains(r.RPC.StatusMsg, want) {
			t.Fatalf("%s#%s %s from %s: %+v, want status 4 %q", agent, action, b, r.Sender, r.RPC, want)
		}
	}
}

func TestE2EPackageAgentRPM(t *testing.T) {
	var dirs []string
	f := day1Fleet(t, 2, func(node string) string {
		dir := filepath.Join(t.TempDir(), node)
		copyFile(t, "../../../agents/packages/testdata/rpm", filepath.Join(dir, "rpm"), 0o755)
		copyFile(t, "../../../agents/packages/testdata/dnf", filepath.Join(dir, "dnf"), 0o755)
		dirs = append(dirs, dir)
		return "plugin.tutti.package.provider = dnf\nplugin.tutti.package.bindir = " + dir + "\n"
	})
	conf := filepath.Join(f.Dir, "demo.conf")

	doc := rpcJSON(t, ExitOK, "rpc", "package", "status", "package=nginx", "--config", conf)
	for _, r := range doc.Replies {
		if d := replyMap(t, r); d["ensure"] != "absent" || d["provider"] != "dnf" {
			t.Fatalf("status before install: %s", r.Data)
		}
	}
	doc = rpcJSON(t, ExitOK, "rpc", "package", "install", "package=nginx", "version=1.24.0", "--config", conf)
	for _, r := range doc.Replies {
		if d := replyMap(t, r); d["ensure"] != "1.24.0-1.el9" || d["arch"] != "x86_64" || !strings.Contains(d["output"].(string), "Complete!") {
			t.Fatalf("install: %s", r.Data)
		}
	}
	rpcJSON(t, ExitOK, "rpc", "package", "update", "package=nginx", "-I", "node1.demo.example.net", "--config", conf)
	doc = rpcJSON(t, ExitOK, "rpc", "package", "status", "package=nginx", "--config", conf)
	if got := ddlAggregates(nil, "package", "status", doc.Replies); !strings.Contains(strings.Join(got, "\n"), "1.24.0-1.el9 = 1") ||
		!strings.Contains(strings.Join(got, "\n"), "2.0-1.el9 = 1") {
		t.Fatalf("status aggregates %q", got)
	}
	doc = rpcJSON(t, ExitOK, "rpc", "package", "count", "--config", conf)
	for _, r := range doc.Replies {
		if d := replyMap(t, r); d["output"] != "1" {
			t.Fatalf("count: %s", r.Data)
		}
	}
	doc = rpcJSON(t, ExitOK, "rpc", "package", "md5", "--config", conf)
	if a, b := replyMap(t, doc.Replies[0])["output"], replyMap(t, doc.Replies[1])["output"]; a == b || len(a.(string)) != 32 {
		t.Fatalf("md5 of different sets: %v %v", a, b)
	}
	for _, verb := range []string{"uninstall", "purge"} {
		doc = rpcJSON(t, ExitOK, "rpc", "package", verb, "package=nginx", "--config", conf)
		for _, r := range doc.Replies {
			if d := replyMap(t, r); d["ensure"] != "absent" {
				t.Fatalf("%s: %s", verb, r.Data)
			}
		}
	}
	doc = rpcJSON(t, ExitFailed, "rpc", "package", "install", "package=broken-thing", "--config", conf)
	if r := doc.Replies[0]; r.StatusCode != protocol.Aborted || !strings.Contains(r.StatusMsg, "Could not install broken-thing: dnf exited with status 1: Error: Transaction test error") {
		t.Fatalf("broken: %+v", r)
	}
	doc = rpcJSON(t, ExitFailed, "rpc", "package", "update", "package=nginx", "--config", conf)
	if r := doc.Replies[0]; r.StatusCode != protocol.Aborted || !strings.Contains(r.StatusMsg, "nginx is not installed") {
		t.Fatalf("update of an absent package: %+v", r)
	}

	// option injection, globs, paths, shell: the CLI refuses, the nodes too
	before := dnfCalls(t, dirs)
	for _, bad := range []string{"-y", "--installroot=/tmp/x", "nginx*", "../../bin/sh", "/etc/passwd", "nginx;reboot", "$(id)", "a b", "@group", strings.Repeat("a", 91)} {
		code, _, stderr := runCLI(t, "rpc", "package", "install", "package="+bad, "--config", conf)
		if code != ExitUsage || !strings.Contains(stderr, "invalid input package") {
			t.Fatalf("rpc package install %q: exit %d %s", bad, code, stderr)
		}
		nodeRefuses(t, f, conf, "package", "install", map[string]any{"package": bad}, "Validation failed: package")
	}
	nodeRefuses(t, f, conf, "package", "install", map[string]any{"package": "nginx", "version": "-1"}, "Validation failed: version")
	if after := dnfCalls(t, dirs); after != before {
		t.Fatalf("dnf or rpm ran for refused names:\n%s", strings.TrimPrefix(after, before))
	}
}

func dnfCalls(t *testing.T, dirs []string) string {
	var all strings.Builder
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "calls.log"))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		all.Write(b)
	}
	return all.String()
}

// TestE2EPackageAgentApt installs and removes hello from the Debian
// archive with the real apt-get on every node of the fleet (one machine).
func TestE2EPackageAgentApt(t *testing.T) {
	switch {
	case os.Geteuid() != 0:
		t.Skip("apt-get install needs root")
	case !fileExists("/usr/bin/apt-get") || !fileExists("/usr/bin/dpkg-query"):
		t.Skip("not a Debian system: no apt-get or dpkg-query")
	}
	if c, err := net.DialTimeout("tcp", "deb.debian.org:80", 3*time.Second); err != nil {
		t.Skipf("the Debian archive is unreachable (deb.debian.org:80: %v)", err)
	} else {
		c.Close()
	}
	if out, err := exec.Command("dpkg-query", "-W", "-f=${db:Status-Abbrev}", "hello").Output(); err == nil && strings.HasPrefix(string(out), "ii") {
		t.Skip("hello is already installed here; the test would remove it")
	}
	f := day1Fleet(t, 1, func(string) string { return "" })
	conf := filepath.Join(f.Dir, "demo.conf")
	t.Cleanup(func() { _ = exec.Command("apt-get", "purge", "-y", "-q", "hello").Run() })

	doc := aptJSON(t, "rpc", "package", "install", "package=hello", "-t", "170", "--config", conf)
	d := replyMap(t, doc.Replies[0])
	if d["provider"] != "apt" || d["ensure"] == "purged" || d["ensure"] == "absent" || d["arch"] == "" {
		if strings.Contains(string(doc.Replies[0].Data), "apt knows no package") {
			t.Skipf("apt's lists do not have hello (apt-get update needed): %s", doc.Replies[0].Data)
		}
		t.Fatalf("install hello: %s", doc.Replies[0].Data)
	}
	doc = rpcJSON(t, ExitOK, "rpc", "package", "status", "package=hello", "--config", conf)
	if got := replyMap(t, doc.Replies[0]); got["ensure"] != d["ensure"] || got["version"] == "" {
		t.Fatalf("status hello: %s", doc.Replies[0].Data)
	}
	doc = rpcJSON(t, ExitOK, "rpc", "package", "count", "--config", conf)
	if n, err := strconv.Atoi(replyMap(t, doc.Replies[0])["output"].(string)); err != nil || n < 10 {
		t.Fatalf("count: %s", doc.Replies[0].Data)
	}
	doc = aptJSON(t, "rpc", "package", "uninstall", "package=hello", "-t", "170", "--config", conf)
	if got := replyMap(t, doc.Replies[0]); got["ensure"] != "absent" && got["ensure"] != "purged" {
		t.Fatalf("uninstall hello: %s", doc.Replies[0].Data)
	}
	doc = aptJSON(t, "rpc", "package", "purge", "package=hello", "-t", "170", "--config", conf)
	if got := replyMap(t, doc.Replies[0]); got["ensure"] != "purged" {
		t.Fatalf("purge hello: %s", doc.Replies[0].Data)
	}
	// a name apt-get would read as a regular expression is not installed
	doc = rpcJSON(t, ExitFailed, "rpc", "package", "install", "package=libc6.", "--config", conf)
	if r := doc.Replies[0]; r.StatusCode != protocol.Aborted || !strings.Contains(r.StatusMsg, "apt knows no package named libc6.") {
		t.Fatalf("regex name: %+v", r)
	}
}

// aptJSON is rpcJSON for a change with the real apt-get, skipping the
// test when another program on this machine holds the dpkg lock longer
// than the agent waits for it.
func aptJSON(t *testing.T, args ...string) ddlRPCDoc {
	t.Helper()
	code, out, stderr := runCLI(t, append(args, "--json")...)
	if code != ExitOK && strings.Contains(out, "Unable to acquire the dpkg frontend lock") {
		t.Skipf("another program holds the dpkg lock on this machine: %s", strings.Join(args, " "))
	}
	if code != ExitOK {
		t.Fatalf("tutti %s: exit %d\n%s%s", strings.Join(args, " "), code, out, stderr)
	}
	var doc ddlRPCDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("tutti %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return doc
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func TestE2EProcessAgent(t *testing.T) {
	f := day1Fleet(t, 1, func(string) string { return "" })
	conf := filepath.Join(f.Dir, "demo.conf")
	marker := "tutti-e2e-sleeper-" + strconv.Itoa(os.Getpid())
	sleeper := &exec.Cmd{Path: "/bin/sleep", Args: []string{marker, "300"}}
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sleeper.Process.Kill(); _, _ = sleeper.Process.Wait() })
	waitFor(t, func() bool {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(sleeper.Process.Pid) + "/cmdline")
		return strings.HasPrefix(string(b), marker)
	})

	doc := rpcJSON(t, ExitOK, "rpc", "process", "list", "pattern="+marker, "--config", conf)
	d := replyMap(t, doc.Replies[0])
	list, _ := d["pslist"].([]any)
	if len(list) != 1 || d["count"] != 1.0 {
		t.Fatalf("list %s: %s", marker, doc.Replies[0].Data)
	}
	if p := list[0].(map[string]any); p["pid"] != float64(sleeper.Process.Pid) || p["username"] == "" || !strings.HasPrefix(p["cmdline"].(string), marker) {
		t.Fatalf("pslist entry %v", p)
	}

	// PID 1 and the daemon itself are refused, by pid and by pattern
	nodeRefuses(t, f, conf, "process", "kill", map[string]any{"pid": 1}, "PID 1 is init")
	nodeRefuses(t, f, conf, "process", "kill", map[string]any{"pid": os.Getpid()}, "is tuttid itself")
	nodeRefuses(t, f, conf, "process", "kill", map[string]any{"pid": -1}, "kill would signal a process group")
	nodeRefuses(t, f, conf, "process", "kill", map[string]any{"pid": 0}, "not a process")
	nodeRefuses(t, f, conf, "process", "kill", map[string]any{"pattern": "(unclosed"}, "is not a regular expression")
	nodeRefuses(t, f, conf, "process", "kill", map[string]any{"pid": sleeper.Process.Pid, "signal": "SEGV"}, "is not one of")
	// this process by its program, not its whole command line, which a
	// long -run can make longer than the DDL's pattern limit
	self, _ := os.ReadFile("/proc/self/cmdline")
	argv0, _, _ := strings.Cut(string(self), "\x00")
	selfPattern := "^" + regexpQuote(argv0) + "( |$)"
	doc = rpcJSON(t, ExitOK, "rpc", "process", "kill", "pattern="+selfPattern, "--config", conf)
	if d := replyMap(t, doc.Replies[0]); d["killed"] != 0.0 || len(d["skipped"].([]any)) == 0 {
		t.Fatalf("a pattern matching tuttid: %s", doc.Replies[0].Data)
	}

	doc = rpcJSON(t, ExitOK, "rpc", "process", "kill", "pattern="+marker, "signal=KILL", "--config", conf)
	if d := replyMap(t, doc.Replies[0]); d["killed"] != 1.0 {
		t.Fatalf("kill by pattern: %s", doc.Replies[0].Data)
	}
	if err := sleeper.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("the sleeper was not killed: %v", err)
	}
	doc = rpcJSON(t, ExitFailed, "rpc", "process", "kill", "pattern="+marker, "--config", conf)
	if r := doc.Replies[0]; r.StatusCode != protocol.Aborted || !strings.Contains(r.StatusMsg, "No process matches") {
		t.Fatalf("kill with no match: %+v", r)
	}
}

func regexpQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met in 5s")
}

func TestE2EFilemgrAgent(t *testing.T) {
	dir := t.TempDir()
	def := filepath.Join(dir, "default.touch")
	f := day1Fleet(t, 1, func(string) string { return "plugin.filemgr.touch_file = " + def + "\n" })
	conf := filepath.Join(f.Dir, "demo.conf")
	file := filepath.Join(dir, "motd")

	doc := rpcJSON(t, ExitFailed, "rpc", "filemgr", "status", "file="+file, "--config", conf)
	if r := doc.Replies[0]; r.StatusCode != protocol.Aborted || !strings.Contains(r.StatusMsg, "does not exist") || replyMap(t, r)["present"] != 0.0 {
		t.Fatalf("status of a missing file: %+v", r)
	}
	rpcJSON(t, ExitOK, "rpc", "filemgr", "touch", "file="+file, "--config", conf)
	if err := os.WriteFile(file, []byte("hello\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(file, 0o640); err != nil {
		t.Fatal(err)
	}
	doc = rpcJSON(t, ExitOK, "rpc", "filemgr", "status", "file="+file, "--config", conf)
	d := replyMap(t, doc.Replies[0])
	if d["present"] != 1.0 || d["type"] != "file" || d["size"] != 6.0 || d["md5"] != "b1946ac92492d2347c6235b4d2611184" ||
		d["sha256"] != "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03" || d["mode"] != "100640" ||
		d["owner"] == "" || d["mtime_seconds"] == 0.0 {
		t.Fatalf("status: %s", doc.Replies[0].Data)
	}
	doc = rpcJSON(t, ExitOK, "rpc", "filemgr", "status", "file="+dir, "dirlist=true", "--config", conf)
	if d := replyMap(t, doc.Replies[0]); d["type"] != "directory" || len(d["dir_listing"].([]any)) != 1 {
		t.Fatalf("dir status: %s", doc.Replies[0].Data)
	}
	// without a file: plugin.filemgr.touch_file
	rpcJSON(t, ExitOK, "rpc", "filemgr", "touch", "--config", conf)
	if !fileExists(def) {
		t.Fatal("touch without a file did not create plugin.filemgr.touch_file")
	}
	// a symbolic link is not followed by touch
	link := filepath.Join(dir, "link")
	if err := os.Symlink(filepath.Join(dir, "elsewhere"), link); err != nil {
		t.Fatal(err)
	}
	doc = rpcJSON(t, ExitFailed, "rpc", "filemgr", "touch", "file="+link, "--config", conf)
	if r := doc.Replies[0]; !strings.Contains(r.StatusMsg, "symbolic link") || fileExists(filepath.Join(dir, "elsewhere")) {
		t.Fatalf("touch through a link: %+v", r)
	}
	doc = rpcJSON(t, ExitFailed, "rpc", "filemgr", "remove", "file="+dir, "--config", conf)
	if r := doc.Replies[0]; !strings.Contains(r.StatusMsg, "is a directory") {
		t.Fatalf("remove a directory: %+v", r)
	}
	rpcJSON(t, ExitOK, "rpc", "filemgr", "remove", "file="+file, "--config", conf)
	if fileExists(file) {
		t.Fatal("remove left the file")
	}
	doc = rpcJSON(t, ExitFailed, "rpc", "filemgr", "remove", "file="+file, "--config", conf)
	if r := doc.Replies[0]; !strings.Contains(r.StatusMsg, "it is not present") {
		t.Fatalf("remove a missing file: %+v", r)
	}

	// relative paths, traversal, NUL: refused by the CLI and the node
	for _, bad := range []string{"etc/passwd", "../etc/passwd", dir + "/../../etc/passwd", dir + "/./motd", dir + "//motd", dir + "/", "/etc/passwd\x00.txt"} {
		for _, action := range []string{"status", "touch", "remove"} {
			nodeRefuses(t, f, conf, "filemgr", action, map[string]any{"file": bad}, "Validation failed: file")
		}
	}
	code, _, stderr := runCLI(t, "rpc", "filemgr", "remove", "file=etc/passwd", "--config", conf)
	if code != ExitUsage || !strings.Contains(stderr, "invalid input file") {
		t.Fatalf("CLI with a relative path: %d %s", code, stderr)
	}
}
