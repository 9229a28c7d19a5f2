package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/agents/ddl"
	"github.com/tuttifleet/tutti/client"
	"github.com/tuttifleet/tutti/connector/protocol"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ (and docs/cli-reference.md)")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -run '%s' -update rewrites it)\n--- got\n%s\n--- want\n%s", path, t.Name(), got, want)
	}
}

var goldenTime = time.Date(2026, 11, 22, 17, 0, 0, 0, time.UTC)

// fakeReply is a deterministic reply as client.Do hands it on.
func fakeReply(sender string, rtt time.Duration, code protocol.StatusCode, msg, data string) client.Result {
	return client.Result{Sender: sender, Received: goldenTime.Add(rtt), RTT: rtt, State: client.Verified,
		RPC: &protocol.RPCReply{Action: "status", StatusCode: code, StatusMsg: msg, Data: json.RawMessage(data)}}
}

type outputCase struct {
	name    string
	replies []client.Result
	sum     client.BatchSummary
	limit   *limitNote
	nodes   int
	// discovery are replies the discovery before the request refused.
	discovery []refusedReply
	// aggregates, when set, replaces the DDL's aggregates.
	aggregates func(d *ddl.DDL, agent, action string, replies []rpcResult) []string
}

func outputCases() []outputCase {
	ms := time.Millisecond
	unsigned := fakeReply("choria1.example.net", 9*ms, protocol.OK, "OK", `{"status":"running"}`)
	unsigned.State = client.Unsigned
	forged := client.Result{Sender: "web9.example.net", Received: goldenTime, RTT: 3 * ms, State: client.Failed,
		Reason: client.ReasonName, Err: errors.New(`reply from "web9.example.net" is signed by a certificate valid for node7.example.net`)}
	unsignedRefused := client.Result{Sender: "ghost.example.net", Received: goldenTime, RTT: 2 * ms, State: client.Failed,
		Reason: client.ReasonUnsigned, Err: errors.New("reply from ghost.example.net is not signed, and signed replies are required (plugin.tutti.require_signed_replies)")}
	sum := func(missing, notSent []string, ids ...string) client.BatchSummary {
		s := client.BatchSummary{RequestIDs: ids, NotSent: notSent}
		s.RequestID, s.Missing, s.Elapsed = ids[0], missing, 1234567*time.Microsecond
		return s
	}
	return []outputCase{
		{name: "all_ok", nodes: 3, sum: sum(nil, nil, "a1b2c3"), replies: []client.Result{
			fakeReply("web2.example.net", 12*ms, protocol.OK, "OK", `{"status": "running"}`),
			fakeReply("db1.example.net", 8*ms, protocol.OK, "OK", `{"status":"running"}`),
			fakeReply("web10.example.net", 30*ms, protocol.OK, "OK", `{}`),
		}},
		{name: "failures_first", nodes: 7, sum: withCounts(sum([]string{"mail1.example.net", "web11.example.net"}, nil, "a1b2c3"), 1, 1), replies: []client.Result{
			fakeReply("web2.example.net", 12*ms, protocol.OK, "OK", `{"status":"running"}`),
			fakeReply("db1.example.net", 8*ms, protocol.Aborted, protocol.NotAuthorizedMsg, `{}`),
			unsigned,
			fakeReply("app1.example.net", 5*ms, protocol.UnknownAction, "Unknown action nosuch for agent service", `null`),
			forged,
		}},
		{name: "batched_interrupted_limited", nodes: 4, limit: &limitNote{Limit: "40%", Of: 10, Seed: 42},
			sum: sum(nil, []string{"web3.example.net", "web4.example.net"}, "a1b2c3", "d4e5f6"), replies: []client.Result{
				fakeReply("web1.example.net", 12*ms, protocol.OK, "OK", `{"status":"stopped"}`),
				fakeReply("web2.example.net", 12*ms, protocol.OK, "OK", `{"status":"stopped"}`),
			}},
		{name: "no_replies", nodes: 2, sum: sum([]string{"web1.example.net", "web2.example.net"}, nil, "a1b2c3")},
		{name: "refused", nodes: 2, sum: withCounts(sum(nil, nil, "a1b2c3"), 1, 0), replies: []client.Result{
			fakeReply("web1.example.net", 12*ms, protocol.OK, "OK", `{"status":"running"}`),
			unsignedRefused,
			fakeReply("web2.example.net", 10*ms, protocol.OK, "OK", `{"status":"running"}`),
		}, discovery: []refusedReply{toRefused(client.Result{Sender: "web3.example.net", RTT: ms, State: client.Failed,
			Reason: client.ReasonSignature, Err: errors.New(`reply signature by "web3.example.net" is invalid`)}, "discovery")}},
		{name: "busy", nodes: 3, sum: withCounts(sum(nil, nil, "a1b2c3"), 2, 0), replies: []client.Result{
			fakeReply("web1.example.net", 12*ms, protocol.OK, "OK", `{"status":"running"}`),
			fakeReply("web2.example.net", 3*ms, protocol.Aborted, "node busy: web2.example.net has 1024 requests queued, retry later or send fewer at once (--batch)", `{}`),
			fakeReply("web3.example.net", 2*ms, protocol.Aborted, "rate limited: caller choria=tester.mcollective is over 5 requests/s on web3.example.net (plugin.tutti.rate_limit), retry later", `{}`),
		}},
		{name: "unsigned_accepted", nodes: 2, sum: withCounts(sum(nil, nil, "a1b2c3"), 0, 1), replies: []client.Result{
			fakeReply("web1.example.net", 12*ms, protocol.OK, "OK", `{"status":"running"}`),
			unsigned,
		}},
	}
}

func withCounts(s client.BatchSummary, failed, unsigned int) client.BatchSummary {
	s.Failed, s.Unsigned = failed, unsigned
	return s
}

func renderOutput(t *testing.T, c outputCase, mode outputMode) (string, int) {
	t.Helper()
	var b bytes.Buffer
	o := newRPCOutput(&b, mode, "service", "status", c.nodes)
	o.limit = c.limit
	if c.aggregates != nil {
		o.aggregates = c.aggregates
	}
	o.addRefused(c.discovery)
	for _, r := range c.replies {
		o.reply(r)
	}
	sum := c.sum
	if err := o.finish(&sum); err != nil {
		t.Fatal(err)
	}
	code := ExitOK
	var ee *exitError
	if err := o.exit(&sum); errors.As(err, &ee) {
		code = ee.code
	}
	return b.String(), code
}

func TestRPCOutputGolden(t *testing.T) {
	wantExit := map[string]int{"all_ok": ExitOK, "failures_first": ExitRefused, "batched_interrupted_limited": ExitFailed,
		"no_replies": ExitNoReplies, "refused": ExitRefused, "unsigned_accepted": ExitOK, "busy": ExitFailed}
	for _, c := range outputCases() {
		t.Run(c.name, func(t *testing.T) {
			for mode, ext := range map[outputMode]string{humanOutput: "txt", jsonOutput: "json", jsonlOutput: "jsonl"} {
				out, code := renderOutput(t, c, mode)
				golden(t, fmt.Sprintf("rpc_%s.%s", c.name, ext), out)
				if code != wantExit[c.name] {
					t.Errorf("%s exit %d, want %d", ext, code, wantExit[c.name])
				}
			}
		})
	}
}

func TestRPCOutputAggregatesHook(t *testing.T) {
	var seen []string
	c := outputCases()[1]
	c.aggregates = func(_ *ddl.DDL, agent, action string, rs []rpcResult) []string {
		counts := map[string]int{}
		for _, r := range rs {
			seen = append(seen, r.Sender)
			var d struct{ Status string }
			_ = json.Unmarshal(r.Data, &d)
			counts[d.Status]++
		}
		return []string{agent + "#" + action + " summary:", fmt.Sprintf("   running: %d", counts["running"])}
	}
	out, _ := renderOutput(t, c, humanOutput)
	golden(t, "rpc_aggregates.txt", out)
	if len(seen) != len(c.replies)-1 || seen[0] != "app1.example.net" || slices.Contains(seen, "web9.example.net") {
		t.Fatalf("the hook saw %v, want every accepted reply in printed order and no refused one", seen)
	}
	if out, _ := renderOutput(t, c, jsonOutput); strings.Contains(out, "summary:") {
		t.Fatal("aggregates leaked into --json")
	}
}

// TestJSONLStreams checks that each reply is written when it arrives and
// that no reply is kept.
func TestJSONLStreams(t *testing.T) {
	var b bytes.Buffer
	o := newRPCOutput(&b, jsonlOutput, "service", "status", 1000)
	for i := range 1000 {
		o.reply(fakeReply(fmt.Sprintf("n%d", i), time.Millisecond, protocol.OK, "OK", `{}`))
		if n := strings.Count(b.String(), "\n"); n != i+1 {
			t.Fatalf("after %d replies %d lines were written", i+1, n)
		}
	}
	if o.results != nil {
		t.Fatalf("--jsonl kept %d replies", len(o.results))
	}
}

func TestProgressBar(t *testing.T) {
	var b bytes.Buffer
	if p := newProgress(&b, &b, false, 10, "x"); p != nil {
		t.Fatal("a progress bar on a buffer, which is not a terminal")
	}
	p := startProgress(&b, 3, "rpcutil#ping", 0)
	deadline := time.Now().Add(5 * time.Second)
	for {
		p.mu.Lock()
		shown := p.bar != nil
		p.mu.Unlock()
		if shown {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("bar never shown")
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.add()
	p.add()
	if st := p.bar.State(); st.CurrentNum != 2 || st.Max != 3 {
		t.Fatalf("bar state %+v", st)
	}
	p.done()
	p.add() // after done: no panic
	if out := b.String(); !strings.Contains(out, "rpcutil#ping") || !strings.Contains(out, "/3)") || !strings.HasSuffix(out, "\r") {
		t.Fatalf("bar output %q: want the bar, then cleared", out)
	}
	var nilBar *progress
	nilBar.add()
	nilBar.done()
}

// BenchmarkRPCOutput is the cost of printing one reply out of 10,000:
// human output sorts and formats at the end, --jsonl writes as it goes.
func BenchmarkRPCOutput(b *testing.B) {
	const n = 10000
	replies := make([]client.Result, n)
	for i := range replies {
		code := protocol.OK
		if i%10 == 0 {
			code = protocol.Aborted
		}
		replies[i] = fakeReply(fmt.Sprintf("node%05d.example.net", n-i), time.Millisecond, code, "OK", `{"status":"running","pid":1234}`)
	}
	sum := &client.BatchSummary{RequestIDs: []string{"x"}}
	for _, mode := range []struct {
		name string
		m    outputMode
	}{{"human", humanOutput}, {"json", jsonOutput}, {"jsonl", jsonlOutput}} {
		b.Run(mode.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var w bytes.Buffer
				o := newRPCOutput(&w, mode.m, "service", "status", n)
				for _, r := range replies {
					o.reply(r)
				}
				if err := o.finish(sum); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/reply")
		})
	}
}
