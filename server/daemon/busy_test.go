package daemon_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/client"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/server"
	"github.com/tuttifleet/tutti/server/sdnotify/systemdtest"
)

// callAll sends count requests for agent#action to the node at once and
// returns the replies (nil for a request that got none within timeout).
func (f *fleet) callAll(t *testing.T, count int, agent, action string, timeout time.Duration) []*client.Result {
	t.Helper()
	out := make([]*client.Result, count)
	var wg sync.WaitGroup
	for i := range count {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.client.Do(context.Background(), client.Request{Agent: agent, Action: action, Filter: protocol.NewFilter(agent),
				Targets: []string{nodeName}, Expect: 1, Timeout: timeout}, func(r client.Result) { out[i] = &r })
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	return out
}

// tally counts the replies: verified OK, verified refusals whose
// statusmsg starts with prefix (status 1), anything else, and none.
func tally(t *testing.T, rs []*client.Result, prefix string) (ok, refused, none int) {
	t.Helper()
	for _, r := range rs {
		switch {
		case r == nil:
			none++
		case r.State != client.Verified || r.RPC == nil:
			t.Errorf("reply from %s not verified: %v", r.Sender, r.Err)
		case r.RPC.StatusCode == protocol.OK:
			ok++
		case r.RPC.StatusCode == protocol.Aborted && strings.HasPrefix(r.RPC.StatusMsg, prefix):
			refused++
		default:
			t.Errorf("reply %d %q, want OK or %q", r.RPC.StatusCode, r.RPC.StatusMsg, prefix)
		}
	}
	return ok, refused, none
}

// TestAgentPileUpRefusedAtCap: requests for an external agent that
// hangs pile up to its concurrency cap (half the workers by default);
// every request past the cap gets a signed "node busy" refusal at once,
// not a queue slot or a process, and another agent still answers.
func TestAgentPileUpRefusedAtCap(t *testing.T) {
	if testing.Short() {
		t.Skip("pile-up test")
	}
	sd := systemdtest.Listen(t)
	dir := t.TempDir()
	agentsDir := filepath.Join(dir, "agents")
	write(t, filepath.Join(agentsDir, "hang.json"), `{"metadata": {"name": "hang", "description": "hangs", "author": "tutti",
	  "license": "Apache-2.0", "version": "1.0.0", "url": "https://example.net", "timeout": 10},
	  "actions": [{"action": "wait", "description": "hangs", "input": {}, "output": {}}]}`)
	write(t, filepath.Join(agentsDir, "hang"), "#!/bin/sh\ncat >/dev/null\nsleep 2\necho '{}'\n")
	if err := os.Chmod(filepath.Join(agentsDir, "hang"), 0o755); err != nil {
		t.Fatal(err)
	}
	policies := filepath.Join(dir, "policies")
	for _, a := range []string{"rpcutil", "hang"} {
		write(t, filepath.Join(policies, a+".policy"), policyAllow)
	}
	f := startFleet(t, sd, "plugin.tutti.workers = 8\nplugin.tutti.agents_dir = "+agentsDir+"\nplugin.tutti.policy_dir = "+policies+"\n")

	const piled, limit = 40, 4 // the default cap of an external agent: 8 workers / 2
	start := time.Now()
	done := make(chan []*client.Result)
	go func() { done <- f.callAll(t, piled, "hang", "wait", 8*time.Second) }()
	// while the cap's worth hang, the node answers others
	time.Sleep(300 * time.Millisecond)
	if got := f.call(t, "rpcutil", "ping"); got != protocol.OK {
		t.Errorf("ping during the pile-up: status %d", got)
	}
	rs := <-done
	ok, refused, none := tally(t, rs, server.BusyMsgPrefix)
	t.Logf("%d requests for a hanging agent: %d ran, %d refused busy, %d unanswered, in %v", piled, ok, refused, none, time.Since(start).Round(time.Millisecond))
	if ok != limit || refused != piled-limit || none != 0 {
		t.Errorf("%d ran, %d refused, %d unanswered; want %d ran at the cap and %d refused", ok, refused, none, limit, piled-limit)
	}
	for _, r := range rs {
		if r != nil && r.RPC.StatusCode == protocol.Aborted && r.RTT > 1500*time.Millisecond {
			t.Errorf("a refusal took %v: refusals must not wait for the running requests", r.RTT)
			break
		}
	}
	if m := f.scrape(t); !hasLine(m, `tutti_node_load_refused_total{reason="agent_concurrency"} 36`) {
		t.Errorf("refusals not counted:\n%s", grepLines(m, "load_refused"))
	}
	if log := f.log(t); !strings.Contains(log, "plugin.tutti.agent.hang.concurrency") || !strings.Contains(log, "tester.mcollective") {
		t.Errorf("the refusal was not logged with its caller:\n%s", grepLines(log, "busy"))
	}
}

// TestFullQueueAnswersNodeBusy: with one worker held by a slow request
// and the one queue slot taken, further verified requests get a signed
// "node busy" refusal (status 1) instead of silence.
func TestFullQueueAnswersNodeBusy(t *testing.T) {
	sd := systemdtest.Listen(t)
	f := startFleet(t, sd, "plugin.tutti.workers = 1\nplugin.tutti.queue_size = 1\n")
	drainSlowStarted()
	first := make(chan protocol.StatusCode)
	go func() { first <- f.call(t, "slow", "sleep") }()
	select {
	case <-slowStarted:
	case <-time.After(5 * time.Second):
		t.Fatal("slow#sleep did not start")
	}
	rs := f.callAll(t, 5, "slow", "sleep", 6*time.Second)
	ok, refused, none := tally(t, rs, server.BusyMsgPrefix)
	if <-first != protocol.OK {
		t.Error("the running request did not finish OK")
	}
	// one takes the queue slot and runs after the first; the others are refused
	if ok != 1 || refused != 4 || none != 0 {
		t.Errorf("%d ran, %d refused busy, %d unanswered; want 1, 4, 0", ok, refused, none)
	}
	for _, r := range rs {
		if r != nil && r.RPC.StatusCode == protocol.Aborted && !strings.Contains(r.RPC.StatusMsg, "retry") {
			t.Errorf("busy refusal %q does not say to retry", r.RPC.StatusMsg)
		}
	}
	if m := f.scrape(t); !hasLine(m, `tutti_node_load_refused_total{reason="queue_full"} 4`) {
		t.Errorf("refusals not counted:\n%s", grepLines(m, "load_refused"))
	}
}

// TestRateLimitPerCaller: a caller over plugin.tutti.rate_limit is
// answered "rate limited", and its rate shows in the per-caller gauge.
func TestRateLimitPerCaller(t *testing.T) {
	sd := systemdtest.Listen(t)
	f := startFleet(t, sd, "plugin.tutti.rate_limit = 0.5\nplugin.tutti.rate_burst = 3\n")
	ok, refused, none := tally(t, f.callAll(t, 8, "rpcutil", "ping", 3*time.Second), server.RateLimitedMsgPrefix)
	if ok != 3 || refused != 5 || none != 0 {
		t.Errorf("%d OK, %d rate limited, %d unanswered; want the burst of 3 OK and 5 limited", ok, refused, none)
	}
	if m := f.scrape(t); !hasLine(m, `tutti_node_load_refused_total{reason="rate_limited"} 5`) {
		t.Errorf("refusals not counted:\n%s", grepLines(m, "load_refused"))
	}
}
