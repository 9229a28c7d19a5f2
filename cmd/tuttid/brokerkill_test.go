package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/client"
	"github.com/tuttifleet/tutti/connector/protocol"
)

// Fleet of TestBrokerKillRecovery: real tuttid nodes and an emulator.
const (
	emulated = 50
	// recoveryBound is the loose bound on the time from the broker's
	// restart until every node answers; the measured value is logged
	// (docs/operations.md cites it).
	recoveryBound = 15 * time.Second
)

// replyLog collects the replies (node and request id) a caller got.
type replyLog struct {
	mu      sync.Mutex
	replies map[string][]string // node → request ids
	n       int
}

func (l *replyLog) add(sender, id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.replies[sender] = append(l.replies[sender], id)
	l.n++
}

// pingAll broadcasts rpcutil#ping and returns the nodes that answered
// OK within timeout, adding each reply to log when it is not nil.
func pingAll(c *client.Client, want int, timeout time.Duration, log *replyLog) (map[string]bool, error) {
	got := map[string]bool{}
	var mu sync.Mutex
	s, err := c.Do(context.Background(), client.Request{Agent: "rpcutil", Action: "ping", Filter: protocol.NewFilter("rpcutil"),
		Expect: want, Timeout: timeout}, func(r client.Result) {
		if r.State != client.Verified || r.RPC == nil || r.RPC.StatusCode != protocol.OK {
			return
		}
		mu.Lock()
		got[r.Sender] = true
		mu.Unlock()
	})
	if s != nil && log != nil {
		for n := range got {
			log.add(n, s.RequestID)
		}
	}
	return got, err
}

// killAndRestart SIGKILLs the broker, restarts it on the same port and
// store after outage and measures the time from the restart until
// answered (pings of 500 ms each: the measure is at most that late).
func killAndRestart(t *testing.T, f *faultFleet, broker *proc, outage time.Duration, answered func() bool) *proc {
	t.Helper()
	killed := time.Now()
	broker.kill(t)
	time.Sleep(outage)
	restarted := time.Now()
	broker = f.startBroker(t)
	var recovered time.Duration
	waitUntil(t, recoveryBound+5*time.Second, "every node to answer after the restart", func() bool {
		if !answered() {
			return false
		}
		recovered = time.Since(restarted)
		return true
	})
	t.Logf("broker SIGKILLed, restarted after %v: every node answered %v after the restart (%v after the kill)",
		restarted.Sub(killed).Round(time.Millisecond), recovered.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
	if recovered > recoveryBound {
		t.Errorf("recovery took %v, more than %v", recovered, recoveryBound)
	}
	return broker
}

// TestBrokerKillRecovery: a broker (`tuttid broker` with a JetStream
// store) serving two tuttid nodes and an emulator of 50 nodes, all real
// processes on loopback, is SIGKILLed while a caller keeps pinging the
// fleet, and restarted on the same port and store; twice, after an
// outage of 1 s and of 5 s. Every node answers again within
// recoveryBound of each restart (the measured time
// is logged), no request is executed twice on a node (request ids are
// unique per node in the audit files), and every reply the caller got
// has its decision record in the node's audit file.
func TestBrokerKillRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a broker and a fleet as processes and kills the broker")
	}
	real := []string{"node1.example.net", "node2.example.net"}
	f := newFaultFleet(t, append(real, "emu.example.net"), true, "rpcutil")
	broker := f.startBroker(t)
	for _, n := range real {
		startTuttid(t, f.dir, n, "--config", f.nodeConf(t, n, ""))
	}
	emuAudit := filepath.Join(f.dir, "emulate.audit")
	startTuttid(t, f.dir, "emulate", "emulate", "--config", f.nodeConf(t, "emu.example.net", ""),
		"--pki", filepath.Join(f.dir, "pki"), "--count", fmt.Sprint(emulated), "--audit", emuAudit, "--parallel", "10")
	c := f.client(t)
	want := len(real) + emulated

	waitUntil(t, 60*time.Second, fmt.Sprintf("all %d nodes to answer", want), func() bool {
		got, err := pingAll(c, want, 2*time.Second, nil)
		return err == nil && len(got) == want
	})

	// the caller: pings the fleet all along, every reply recorded
	log := &replyLog{replies: map[string][]string{}}
	stop := make(chan struct{})
	var pinging sync.WaitGroup
	var rounds atomic.Int64
	pinging.Add(1)
	go func() {
		defer pinging.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := pingAll(c, want, time.Second, log); err != nil {
				time.Sleep(50 * time.Millisecond) // disconnected: publishing fails until the client reconnects
			}
			rounds.Add(1)
		}
	}()
	time.Sleep(time.Second)

	for _, outage := range []time.Duration{time.Second, 5 * time.Second} {
		broker = killAndRestart(t, f, broker, outage, func() bool {
			got, err := pingAll(c, want, 500*time.Millisecond, log)
			return err == nil && len(got) == want
		})
	}
	time.Sleep(500 * time.Millisecond) // pings across the recovery
	close(stop)
	pinging.Wait()
	t.Logf("%d ping rounds, %d replies", rounds.Load(), log.n)

	// audit files: each line parses, no request decided twice on a node
	// (decisions fails on duplicates), every reply has its record
	audited := decisions(t, emuAudit)
	for _, n := range real {
		for node, ids := range decisions(t, f.auditFile(n)) {
			if node != n {
				t.Errorf("%s's audit file holds a record of %s", n, node)
			}
			audited[node] = ids
		}
	}
	if len(audited) != want {
		t.Errorf("audit records of %d nodes, want %d", len(audited), want)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	for node, ids := range log.replies {
		seen := map[string]bool{}
		for _, id := range ids {
			if seen[id] {
				t.Errorf("%s replied twice to request %s", node, id)
			}
			seen[id] = true
			if e, ok := audited[node][id]; !ok {
				t.Errorf("%s replied to request %s without its audit record", node, id)
			} else if e.Decision != "allow" {
				t.Errorf("%s replied to request %s audited %q", node, id, e.Decision)
			}
		}
	}
}
