package cli

import (
	"context"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/tuttifleet/tutti/client"
	"github.com/tuttifleet/tutti/cmd/tutti/internal/demo"
	"github.com/tuttifleet/tutti/connector/protocol"
)

// The blast-radius guard on a real fleet (embedded broker, TLS, three
// nodes with rpcutil#ping guarded at 2 named nodes and
// require_client_filter on): wide requests are refused by the nodes
// with a reply the CLI turns into the way out; narrow, batched and
// fact-selected ones run; unfiltered broadcasts are refused.
func TestE2EGuard(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f, err := demo.StartFleetConfig(ctx, t.TempDir(), 3, demo.FleetConfig{Node: []string{
		"plugin.choria.require_client_filter = true",
		"plugin.tutti.guard = rpcutil#ping:2, rpcutil#inventory",
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	conf := f.ClientConfig
	n1, n2 := "node1.demo.example.net", "node2.demo.example.net"

	t.Run("wide request refused with the way out", func(t *testing.T) {
		code, out, stderr := runCLI(t, "rpc", "rpcutil", "ping", "-I", "/node/", "--config", conf, "--no-progress")
		if code == ExitOK {
			t.Fatalf("exit 0 for a request naming 3 nodes:\n%s%s", out, stderr)
		}
		t.Logf("stdout:\n%s\nstderr:\n%s", out, stderr)
		for _, want := range []string{"3 nodes refused rpcutil#ping with their blast-radius guard (rpcutil#ping)", "--batch 2", "-I NODE", "-F fact=value"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr does not say %q:\n%s", want, stderr)
			}
		}
		if !strings.Contains(out, "0 OK, 3 failed") || !strings.Contains(out, protocol.GuardRefusedMsg) {
			t.Errorf("output:\n%s", out)
		}
		if lines := f.NodeLog.Lines("blast-radius guard"); len(lines) < 3 || !strings.Contains(lines[0], "choria=demo.mcollective") || !strings.Contains(lines[0], "reason=guard") {
			t.Errorf("node log lines %q, want 3 naming the caller", lines)
		}
	})
	t.Run("narrow requests run", func(t *testing.T) {
		for _, args := range [][]string{
			{"-I", "/node/", "--batch", "2"}, // the way out: batches of 2
			{"-I", n1, "-I", n2},             // named
			{"-F", "os.family=linux"},        // selected by a fact
			{"-C", "base", "--batch", "1"},   // selected, batched anyway
		} {
			code, out, stderr := runCLI(t, append([]string{"rpc", "rpcutil", "ping", "--config", conf, "--json"}, args...)...)
			if code != ExitOK || strings.Contains(stderr, "guard") {
				t.Errorf("%v: exit %d\n%s%s", args, code, out, stderr)
			}
		}
	})
	t.Run("an unguarded action is not guarded", func(t *testing.T) {
		if code, out, stderr := runCLI(t, "rpc", "rpcutil", "agent_inventory", "-I", "/node/", "--config", conf, "--json"); code != ExitOK {
			t.Errorf("exit %d\n%s%s", code, out, stderr)
		}
	})
	t.Run("require_client_filter refuses an unfiltered broadcast", func(t *testing.T) {
		s := connectFleet(t, conf)
		defer s.Close()
		var mu sync.Mutex
		var msgs []string
		sum, err := s.client.Do(context.Background(), client.Request{Agent: "rpcutil", Action: "agent_inventory",
			Filter: protocol.NewFilter("rpcutil"), Expect: 3, Timeout: 5 * time.Second}, func(r client.Result) {
			mu.Lock()
			defer mu.Unlock()
			if r.RPC != nil {
				msgs = append(msgs, r.RPC.StatusMsg)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 3 || sum.Replies != 3 {
			t.Fatalf("replies %q", msgs)
		}
		for _, m := range msgs {
			if !strings.HasPrefix(m, protocol.FilterRequiredMsg) {
				t.Errorf("reply %q, want the require_client_filter refusal", m)
			}
		}
		// a filtered broadcast runs
		msgs = nil
		if _, err := s.client.Do(context.Background(), client.Request{Agent: "rpcutil", Action: "agent_inventory",
			Filter: protocol.Filter{Agent: []string{"rpcutil"}, CFClass: []string{"base"}}, Expect: 3, Timeout: 5 * time.Second}, func(r client.Result) {
			mu.Lock()
			defer mu.Unlock()
			if r.RPC != nil && r.RPC.StatusCode != protocol.OK {
				msgs = append(msgs, r.RPC.StatusMsg)
			}
		}); err != nil || len(msgs) != 0 {
			t.Fatalf("filtered broadcast: %v %q", err, msgs)
		}
	})
	t.Run("require_client_filter drops an unfiltered discovery", func(t *testing.T) {
		code, out, stderr := runCLI(t, "ping", "--config", conf, "--timeout", "1s")
		if code != ExitNoReplies {
			t.Errorf("ping without a filter: exit %d\n%s%s", code, out, stderr)
		}
		if lines := f.NodeLog.Lines("discovery request"); len(lines) == 0 || !strings.Contains(lines[0], "plugin.choria.require_client_filter") {
			t.Errorf("node log lines %q", lines)
		}
		if code, out, stderr := runCLI(t, "ping", "--config", conf, "-F", "role=web", "--expect", "2", "--json"); code != ExitOK {
			t.Errorf("ping -F role=web: exit %d\n%s%s", code, out, stderr)
		}
	})
	t.Run("client with require_client_filter sends nothing unfiltered", func(t *testing.T) {
		b, err := os.ReadFile(conf)
		if err != nil {
			t.Fatal(err)
		}
		strict := conf + ".strict"
		if err := os.WriteFile(strict, append(b, "\nplugin.choria.require_client_filter = true\n"...), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"ping"}, {"rpc", "rpcutil", "ping"}} {
			start := time.Now()
			code, out, stderr := runCLI(t, append(args, "--config", strict)...)
			if code == ExitOK || !strings.Contains(stderr, "a filter is required (plugin.choria.require_client_filter)") || !strings.Contains(stderr, "-I NODE") {
				t.Errorf("%v: exit %d\n%s%s", args, code, out, stderr)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("%v took %s: it should fail before sending", args, d)
			}
		}
		if code, out, stderr := runCLI(t, "rpc", "rpcutil", "ping", "-I", n1, "--config", strict, "--json"); code != ExitOK {
			t.Errorf("-I with require_client_filter: exit %d\n%s%s", code, out, stderr)
		}
	})
}

// connectFleet is a CLI session on the fleet of client configuration conf.
func connectFleet(t *testing.T, conf string) *session {
	t.Helper()
	cmd := &cobra.Command{}
	cmd.SetContext(context.Background())
	g := &globals{config: conf, stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard}
	s, err := g.connect(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
