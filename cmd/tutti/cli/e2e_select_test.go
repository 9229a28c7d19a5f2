package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The 4-node fleet of demo.StartFleet:
//
//	node  role  node_number  site.country  classes
//	1     web   1            uk            base role::web
//	2     web   2            de            base role::web
//	3     db    3            uk            base role::db
//	4     web   4            fr            base role::web
func nodeNames(nums ...int) []string {
	var out []string
	for _, n := range nums {
		out = append(out, "node"+string(rune('0'+n))+".demo.example.net")
	}
	return out
}

// discoverJSON runs tutti discover --json and returns the node list.
func discoverJSON(t *testing.T, conf string, args ...string) (int, []string, string) {
	t.Helper()
	code, out, stderr := runCLI(t, append([]string{"discover", "--config", conf, "--json"}, args...)...)
	var nodes []string
	if code == ExitOK || code == ExitNoReplies {
		if err := json.Unmarshal([]byte(out), &nodes); err != nil {
			t.Fatalf("discover %v: %v\n%s", args, err, out)
		}
	}
	return code, nodes, stderr
}

func TestE2EFilters(t *testing.T) {
	f := startFleet(t, 4)
	conf := filepath.Join(f.Dir, "demo.conf")
	cases := []struct {
		name string
		args []string
		want []int
	}{
		{"everything", nil, []int{1, 2, 3, 4}},
		{"identity exact", []string{"-I", "node2.demo.example.net", "-I", "node4.demo.example.net"}, []int{2, 4}},
		{"identity regex", []string{"-I", "/^node[13]\\./"}, []int{1, 3}},
		{"class", []string{"-C", "role::db"}, []int{3}},
		{"class regex", []string{"-C", "/^role::w/"}, []int{1, 2, 4}},
		{"fact =", []string{"-F", "role=web"}, []int{1, 2, 4}},
		{"fact !=", []string{"-F", "role!=web"}, []int{3}},
		{"fact <", []string{"-F", "node_number<2"}, []int{1}},
		{"fact >", []string{"-F", "node_number>2"}, []int{3, 4}},
		{"fact <=", []string{"-F", "node_number<=2"}, []int{1, 2}},
		{"fact >=", []string{"-F", "node_number>=3"}, []int{3, 4}},
		{"fact =~", []string{"-F", "site.country=~^(de|fr)$"}, []int{2, 4}},
		{"nested fact", []string{"-F", "site.country=uk"}, []int{1, 3}},
		{"facts AND", []string{"-F", "site.country=uk", "-F", "role=web"}, []int{1}},
		{"agent", []string{"-A", "rpcutil"}, []int{1, 2, 3, 4}},
		{"agent regex", []string{"-A", "/^rpc/"}, []int{1, 2, 3, 4}},
		{"select", []string{"-S", "role=web and not site.country=uk"}, []int{2, 4}},
		{"select with parentheses", []string{"-S", "(role=db or site.country=fr) and node_number>=3"}, []int{3, 4}},
		{"select functions", []string{"-S", "with('role::web') && fact('node_number') < 3"}, []int{1, 2}},
		{"with", []string{"-W", "site.country=uk role::db"}, []int{3}},
		{"combined", []string{"-F", "role=web", "-C", "base", "-I", "/node[1-3]/"}, []int{1, 2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, nodes, stderr := discoverJSON(t, conf, c.args...)
			if code != ExitOK || !slices.Equal(nodes, nodeNames(c.want...)) {
				t.Fatalf("exit %d, nodes %v, want %v (%s)", code, nodes, nodeNames(c.want...), stderr)
			}
		})
	}
	t.Run("no match", func(t *testing.T) {
		for _, args := range [][]string{{"-A", "nosuch"}, {"-F", "site.country=us"}, {"-C", "role::mail"}} {
			code, nodes, stderr := discoverJSON(t, conf, append(args, "--discovery-timeout", "500ms")...)
			if code != ExitNoReplies || len(nodes) != 0 || !strings.Contains(stderr, "no nodes matched") {
				t.Fatalf("%v: exit %d nodes %v stderr %q", args, code, nodes, stderr)
			}
		}
	})
	t.Run("discovery ends when replies stop", func(t *testing.T) {
		start := time.Now()
		code, nodes, _ := discoverJSON(t, conf, "--discovery-timeout", "30s")
		if code != ExitOK || len(nodes) != 4 {
			t.Fatalf("exit %d nodes %v", code, nodes)
		}
		if d := time.Since(start); d > 15*time.Second {
			t.Fatalf("discovery took %v: it must end %v after the last reply, not at --discovery-timeout", d, discoveryIdleGap)
		}
	})
	t.Run("find alias and text output", func(t *testing.T) {
		code, out, _ := runCLI(t, "find", "--config", conf, "-C", "role::db")
		if code != ExitOK || out != "node3.demo.example.net\n" {
			t.Fatalf("exit %d: %q", code, out)
		}
	})
	t.Run("rpc is directed to the discovered nodes", func(t *testing.T) {
		before := totals(f)
		code, out, stderr := runCLI(t, "rpc", "rpcutil", "get_fact", "fact=site.country", "-S", "role=web and not site.country=uk",
			"--config", conf, "--json")
		if code != ExitOK {
			t.Fatalf("exit %d: %s %s", code, out, stderr)
		}
		doc := decodeRPCDoc(t, out)
		if got := doc.senders(); !slices.Equal(got, nodeNames(2, 4)) {
			t.Fatalf("replies from %v", got)
		}
		// every node saw the discovery broadcast; only 2 and 4 got the request
		after := totals(f)
		for i, want := range []uint64{1, 2, 1, 2} {
			if got := after[i] - before[i]; got != want {
				t.Fatalf("node%d received %d messages, want %d", i+1, got, want)
			}
		}
	})
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// totals is the number of messages each node received.
func totals(f *Fleet) []uint64 {
	var out []uint64
	for _, n := range f.Nodes {
		out = append(out, n.Stats().Total)
	}
	return out
}

type rpcDoc struct {
	RequestID  string      `json:"request_id"`
	RequestIDs []string    `json:"request_ids"`
	Replies    []rpcResult `json:"replies"`
	NoReply    []string    `json:"no_reply"`
	NotSent    []string    `json:"not_sent"`
	Stats      rpcStats    `json:"stats"`
}

func decodeRPCDoc(t *testing.T, out string) rpcDoc {
	t.Helper()
	var doc rpcDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return doc
}

func (d rpcDoc) senders() []string {
	var s []string
	for _, r := range d.Replies {
		s = append(s, r.Sender)
	}
	slices.Sort(s)
	return s
}

var elapsedRe = regexp.MustCompile(`in [0-9.]+(ms|s|µs):`)

func TestE2ESelectAndRollout(t *testing.T) {
	f := startFleet(t, 4)
	conf := filepath.Join(f.Dir, "demo.conf")

	t.Run("nodes file skips discovery", func(t *testing.T) {
		file := filepath.Join(f.Dir, "nodes.txt")
		if err := os.WriteFile(file, []byte("# two real nodes and a ghost\nnode1.demo.example.net\n\nnode3.demo.example.net  # db\nghost.demo.example.net\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		before := totals(f)
		code, out, stderr := runCLI(t, "rpc", "rpcutil", "ping", "--nodes", file, "--config", conf, "--json", "--timeout", "1s")
		if code != ExitFailed {
			t.Fatalf("a node that does not reply must exit %d, got %d: %s %s", ExitFailed, code, out, stderr)
		}
		doc := decodeRPCDoc(t, out)
		if !slices.Equal(doc.senders(), nodeNames(1, 3)) || !slices.Equal(doc.NoReply, []string{"ghost.demo.example.net"}) {
			t.Fatalf("replies %v, no reply %v", doc.senders(), doc.NoReply)
		}
		after := totals(f)
		for i, want := range []uint64{1, 0, 1, 0} {
			if got := after[i] - before[i]; got != want {
				t.Fatalf("node%d received %d messages, want %d (no discovery)", i+1, got, want)
			}
		}
		// -I narrows the file's list; other filters are refused
		code, nodes, _ := discoverJSON(t, conf, "--nodes", file, "-I", "/^(node1|ghost)/")
		if code != ExitOK || !slices.Equal(nodes, []string{"ghost.demo.example.net", "node1.demo.example.net"}) {
			t.Fatalf("discover --nodes -I: %d %v", code, nodes)
		}
		code, _, stderr = runCLI(t, "rpc", "rpcutil", "ping", "--nodes", file, "-F", "role=web", "--config", conf)
		if code != ExitUsage || !strings.Contains(stderr, "--nodes cannot be combined") {
			t.Fatalf("--nodes with -F: %d %s", code, stderr)
		}
	})

	t.Run("exact identities skip discovery", func(t *testing.T) {
		before := totals(f)
		code, out, _ := runCLI(t, "rpc", "rpcutil", "ping", "-I", "node2.demo.example.net", "--config", conf, "--json")
		if code != ExitOK || !slices.Equal(decodeRPCDoc(t, out).senders(), nodeNames(2)) {
			t.Fatalf("exit %d: %s", code, out)
		}
		if after := totals(f); after[0] != before[0] || after[1] != before[1]+1 {
			t.Fatalf("messages before %v after %v", before, after)
		}
	})

	t.Run("batches", func(t *testing.T) {
		code, out, stderr := runCLI(t, "rpc", "rpcutil", "ping", "--batch", "3", "--batch-sleep", "50ms", "--config", conf, "--json")
		if code != ExitOK {
			t.Fatalf("exit %d: %s %s", code, out, stderr)
		}
		doc := decodeRPCDoc(t, out)
		if len(doc.RequestIDs) != 2 || doc.RequestIDs[0] == doc.RequestIDs[1] || len(doc.Replies) != 4 || doc.Stats.OK != 4 {
			t.Fatalf("two batches of 3 and 1 nodes: %+v", doc)
		}
	})

	t.Run("interrupt between batches", func(t *testing.T) {
		out := &lockedBuffer{}
		g := &globals{stdin: strings.NewReader(""), stdout: out, stderr: &bytes.Buffer{}}
		root := NewRoot(g)
		root.SetArgs([]string{"rpc", "rpcutil", "ping", "--batch", "1", "--batch-sleep", "1m", "--config", conf, "--jsonl"})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() { // Ctrl-C once the first batch's reply is out
			for !strings.Contains(out.String(), `"type":"reply"`) {
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
		}()
		err := root.ExecuteContext(ctx)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != ExitFailed {
			t.Fatalf("want exit %d, got %v", ExitFailed, err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		var sum rpcSummaryLine
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
			t.Fatal(err)
		}
		if len(lines) != 2 || len(sum.NotSent) != 3 || len(sum.RequestIDs) != 1 || sum.Stats.OK != 1 {
			t.Fatalf("one batch sent, three not:\n%s", out.String())
		}
	})

	t.Run("limit", func(t *testing.T) {
		pick := func(args ...string) rpcDoc {
			code, out, stderr := runCLI(t, append([]string{"rpc", "rpcutil", "ping", "--config", conf, "--json"}, args...)...)
			if code != ExitOK {
				t.Fatalf("%v: exit %d: %s %s", args, code, out, stderr)
			}
			return decodeRPCDoc(t, out)
		}
		a := pick("--limit", "2", "--limit-seed", "7")
		b := pick("--limit", "50%", "--limit-seed", "7")
		if len(a.Replies) != 2 || !slices.Equal(a.senders(), b.senders()) {
			t.Fatalf("--limit 2 and 50%% with one seed: %v %v", a.senders(), b.senders())
		}
		if l := a.Stats.Limit; l == nil || l.Of != 4 || l.Seed != 7 || a.Stats.Nodes != 2 {
			t.Fatalf("stats %+v", a.Stats)
		}
		one := pick("--limit", "1", "-F", "role=web")
		if len(one.Replies) != 1 || one.Replies[0].Sender == "node3.demo.example.net" {
			t.Fatalf("limit applies after the filter: %v", one.senders())
		}
	})

	t.Run("jsonl streams one line per reply", func(t *testing.T) {
		code, out, _ := runCLI(t, "rpc", "rpcutil", "ping", "-F", "role=web", "--config", conf, "--jsonl")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if code != ExitOK || len(lines) != 4 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		var senders []string
		for i, l := range lines {
			var v struct {
				Type   string   `json:"type"`
				Sender string   `json:"sender"`
				Stats  rpcStats `json:"stats"`
			}
			if err := json.Unmarshal([]byte(l), &v); err != nil {
				t.Fatalf("line %d: %v", i, err)
			}
			switch {
			case i < 3 && v.Type == "reply":
				senders = append(senders, v.Sender)
			case i == 3 && v.Type == "summary" && v.Stats.OK == 3 && v.Stats.Nodes == 3:
			default:
				t.Fatalf("line %d: %s", i, l)
			}
		}
		slices.Sort(senders)
		if !slices.Equal(senders, nodeNames(1, 2, 4)) {
			t.Fatalf("senders %v", senders)
		}
	})

	t.Run("human output golden", func(t *testing.T) {
		code, out, stderr := runCLI(t, "rpc", "rpcutil", "get_fact", "fact=site.country", "--config", conf, "--timeout", "1s",
			"-I", "node1.demo.example.net", "-I", "node2.demo.example.net", "-I", "ghost.demo.example.net")
		if code != ExitFailed {
			t.Fatalf("exit %d: %s %s", code, out, stderr)
		}
		golden(t, "e2e_rpc_get_fact.txt", elapsedRe.ReplaceAllString(out, "in <elapsed>:"))
	})

	t.Run("exit codes", func(t *testing.T) {
		cases := []struct {
			args   []string
			code   int
			stderr string
		}{
			{[]string{"rpc", "rpcutil", "ping"}, ExitOK, ""},
			{[]string{"rpc", "rpcutil", "ping", "-F", "role=mail", "--discovery-timeout", "300ms"}, ExitNoReplies, "no nodes matched"},
			{[]string{"rpc", "rpcutil", "nosuch_action", "-I", "node1.demo.example.net"}, ExitUsage, "nosuch_action"},
			{[]string{"rpc", "rpcutil", "ping", "-S", "role=web and (site.country=uk"}, ExitUsage, "at position 29\n  role=web and (site.country=uk\n" + strings.Repeat(" ", 31) + "^"},
			{[]string{"rpc", "rpcutil", "ping", "-F", "role"}, ExitUsage, `-F "role"`},
			{[]string{"rpc", "rpcutil", "ping", "--json", "--jsonl"}, ExitUsage, "cannot be combined"},
			{[]string{"rpc", "rpcutil", "ping", "--limit", "0"}, ExitUsage, "--limit"},
			{[]string{"rpc", "rpcutil", "ping", "--batch-sleep", "1s"}, ExitUsage, "needs --batch"},
			{[]string{"rpc", "rpcutil", "ping", "--no-such-flag"}, ExitUsage, "unknown flag"},
			{[]string{"rpc", "rpcutil"}, ExitUsage, "requires at least 2 arg"},
			{[]string{"ping", "--timeout", "0s"}, ExitUsage, "--timeout"},
			{[]string{"nosuch"}, ExitUsage, `unknown command "nosuch"`},
		}
		for _, c := range cases {
			code, out, stderr := runCLI(t, append(c.args, "--config", conf)...)
			if code != c.code || !strings.Contains(stderr, c.stderr) {
				t.Errorf("%v: exit %d (want %d), stderr %q (want %q)\n%s", c.args, code, c.code, stderr, c.stderr, out)
			}
		}
	})
}
