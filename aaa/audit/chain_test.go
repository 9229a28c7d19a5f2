package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/security/x509/x509test"
)

// chainPKI is a CA, a provider (signer) per name and a verify-only
// provider trusting the CA.
type chainPKI struct {
	pki      *x509test.PKI
	verifier *x509.Provider
}

func newChainPKI(t *testing.T) *chainPKI {
	t.Helper()
	pki := x509test.NewPKI(t, "audit-ca")
	v, err := x509.NewFromPEM(nil, nil, pki.CertPEM(), x509.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return &chainPKI{pki: pki, verifier: v}
}

func (c *chainPKI) signer(t *testing.T, name string) *x509.Provider {
	t.Helper()
	cert, key, err := c.pki.IssuePEM(name)
	if err != nil {
		t.Fatal(err)
	}
	p, err := x509.NewFromPEM(cert, key, c.pki.CertPEM(), x509.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// newTestChain writes writer's chain to dir/audit.log.
func newTestChain(t *testing.T, dir string, cfg ChainConfig) *Chain {
	t.Helper()
	f, err := NewFile(FileConfig{Path: filepath.Join(dir, "audit.log")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.TailFile = filepath.Join(dir, "audit.log")
	if cfg.StateFile == "" {
		cfg.StateFile = filepath.Join(dir, "audit.log.chain")
	}
	c, err := NewChain(cfg, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func auditN(t *testing.T, c *Chain, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := c.Audit(context.Background(), &Record{RequestID: fmt.Sprintf("req-%d", i), Agent: "rpcutil", Action: "ping"}); err != nil {
			t.Fatal(err)
		}
	}
}

func rawLines(t *testing.T, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
}

func verifyLines(t *testing.T, v CheckpointVerifier, lines [][]byte) Report {
	t.Helper()
	ver := NewVerifier(v)
	for i, l := range lines {
		ver.Line("audit.log", i+1, l)
	}
	return ver.Report()
}

func TestChainStampsRecords(t *testing.T) {
	dir := t.TempDir()
	c := newTestChain(t, dir, ChainConfig{Writer: "node1", Interval: -1, Records: -1})
	auditN(t, c, 1, 3)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	lines := rawLines(t, filepath.Join(dir, "audit.log"))
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3 (no signer: no checkpoint)", len(lines))
	}
	prev := ""
	for i, line := range lines {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		// the Choria fields are still there, the chain ones added at the end
		if m["request_id"] != fmt.Sprintf("req-%d", i+1) || m["agent"] != "rpcutil" {
			t.Errorf("line %d lost its record fields: %s", i+1, line)
		}
		want := fmt.Sprintf(`,"writer":"node1","seq":%d,"prev":"%s"}`, i+1, prev)
		if !bytes.HasSuffix(line, []byte(want)) {
			t.Errorf("line %d = %s, want suffix %s", i+1, line, want)
		}
		prev = LineHash(line)
	}
}

func TestChainConcurrentWritersKeepOrder(t *testing.T) {
	dir := t.TempDir()
	c := newTestChain(t, dir, ChainConfig{Writer: "node1", Interval: -1, Records: -1})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				_ = c.Audit(context.Background(), &Record{RequestID: fmt.Sprintf("g%d-%d", g, i)})
			}
		}()
	}
	wg.Wait()
	_ = c.Close()
	rep := verifyLines(t, nil, rawLines(t, filepath.Join(dir, "audit.log")))
	if !rep.OK() || len(rep.Writers) != 1 || rep.Writers[0].LastSeq != 400 || rep.Writers[0].Records != 400 {
		t.Fatalf("report %+v", rep)
	}
}

func TestChainContinuesAfterRestart(t *testing.T) {
	pki := newChainPKI(t)
	dir := t.TempDir()
	cfg := ChainConfig{Writer: "node1", Signer: pki.signer(t, "node1"), Interval: -1, Records: -1}
	c := newTestChain(t, dir, cfg)
	auditN(t, c, 1, 2)
	_ = c.Close() // checkpoint seq 3
	// a kill: no Close, no checkpoint
	c = newTestChain(t, dir, cfg)
	auditN(t, c, 3, 2)
	c = newTestChain(t, dir, cfg)
	auditN(t, c, 5, 1)
	_ = c.Close()
	lines := rawLines(t, filepath.Join(dir, "audit.log"))
	rep := verifyLines(t, pki.verifier, lines)
	w := rep.Writers[0]
	if !rep.OK() || w.LastSeq != 7 || w.Checkpoints != 2 || w.Unprotected != 0 || w.Restarts != 0 {
		t.Fatalf("report %+v\n%s", rep, bytes.Join(lines, []byte("\n")))
	}
}

func TestChainAfterRotation(t *testing.T) {
	pki := newChainPKI(t)
	cfg := ChainConfig{Writer: "node1", Signer: pki.signer(t, "node1"), Interval: -1, Records: -1}
	t.Run("clean stop continues from the state file", func(t *testing.T) {
		dir := t.TempDir()
		c := newTestChain(t, dir, cfg)
		auditN(t, c, 1, 2)
		_ = c.Close()
		old := rawLines(t, filepath.Join(dir, "audit.log"))
		if err := os.Rename(filepath.Join(dir, "audit.log"), filepath.Join(dir, "audit.log.1")); err != nil {
			t.Fatal(err)
		}
		c = newTestChain(t, dir, cfg)
		auditN(t, c, 3, 1)
		_ = c.Close()
		rep := verifyLines(t, pki.verifier, append(old, rawLines(t, filepath.Join(dir, "audit.log"))...))
		if !rep.OK() || rep.Writers[0].LastSeq != 5 || rep.Writers[0].Restarts != 0 {
			t.Fatalf("report %+v", rep)
		}
	})
	t.Run("unclean stop starts a new chain naming the old head", func(t *testing.T) {
		dir := t.TempDir()
		c := newTestChain(t, dir, cfg)
		auditN(t, c, 1, 2)
		c.Checkpoint(context.Background()) // state saved at seq 3, not clean
		auditN(t, c, 3, 1)
		if err := os.Rename(filepath.Join(dir, "audit.log"), filepath.Join(dir, "audit.log.1")); err != nil {
			t.Fatal(err)
		}
		c = newTestChain(t, dir, cfg)
		auditN(t, c, 4, 1)
		_ = c.Close()
		lines := rawLines(t, filepath.Join(dir, "audit.log"))
		l, err := DecodeLink(lines[0])
		if err != nil || l.Type != TypeRestart || l.Seq != 1 || l.PreviousSeq != 3 {
			t.Fatalf("first line %s (%v), want a restart naming seq 3", lines[0], err)
		}
		rep := verifyLines(t, pki.verifier, lines)
		if !rep.OK() || rep.Writers[0].Restarts != 1 {
			t.Fatalf("report %+v", rep)
		}
	})
}

func TestChainCheckpoints(t *testing.T) {
	pki := newChainPKI(t)
	dir := t.TempDir()
	c := newTestChain(t, dir, ChainConfig{Writer: "node1", Signer: pki.signer(t, "node1"), Interval: 20 * time.Millisecond, Records: 3})
	auditN(t, c, 1, 3) // checkpoint by count: seq 4
	deadline := time.Now().Add(5 * time.Second)
	auditN(t, c, 4, 1)
	for { // checkpoint by time: seq 6
		if seq, _ := c.Head(); seq == 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint by time")
		}
		time.Sleep(5 * time.Millisecond)
	}
	_ = c.Close() // nothing since: no checkpoint
	lines := rawLines(t, filepath.Join(dir, "audit.log"))
	var types []string
	for _, l := range lines {
		link, err := DecodeLink(l)
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, link.Type)
	}
	if got := strings.Join(types, ","); got != ",,,checkpoint,,checkpoint" {
		t.Fatalf("record types %q", got)
	}
	rep := verifyLines(t, pki.verifier, lines)
	if !rep.OK() || rep.Writers[0].Checkpoints != 2 || rep.Writers[0].Unprotected != 0 {
		t.Fatalf("report %+v", rep)
	}
}

func TestChainSwapKeepsTheChain(t *testing.T) {
	dir := t.TempDir()
	c := newTestChain(t, dir, ChainConfig{Writer: "node1", Interval: -1, Records: -1})
	auditN(t, c, 1, 2)
	f2, err := NewFile(FileConfig{Path: filepath.Join(dir, "audit2.log")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Swap(f2).Close()
	auditN(t, c, 3, 1)
	_ = c.Close()
	lines := append(rawLines(t, filepath.Join(dir, "audit.log")), rawLines(t, filepath.Join(dir, "audit2.log"))...)
	if rep := verifyLines(t, nil, lines); !rep.OK() || rep.Writers[0].LastSeq != 3 {
		t.Fatalf("report %+v", rep)
	}
}
