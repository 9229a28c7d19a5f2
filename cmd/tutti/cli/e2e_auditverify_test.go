package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tuttifleet/tutti/aaa/audit"
)

// TestE2EAuditVerify: the nodes of a real fleet chain their audit
// records and sign a checkpoint at shutdown; verify passes on the files
// as written and names the record after one that was edited.
func TestE2EAuditVerify(t *testing.T) {
	f := startFleet(t, 3)
	conf := filepath.Join(f.Dir, "demo.conf")
	for range 3 {
		if code, out, stderr := runCLI(t, "rpc", "--config", conf, "rpcutil", "ping", "--json"); code != ExitOK {
			t.Fatalf("rpc exit %d: %s %s", code, out, stderr)
		}
	}
	f.Close() // shutdown: each node's last checkpoint
	files, _ := filepath.Glob(filepath.Join(f.Dir, "audit-*.log"))
	if len(files) != 3 {
		t.Fatalf("audit files %v", files)
	}
	args := append([]string{"audit", "verify", "--config", conf, "--json"}, files...)
	code, out, stderr := runCLI(t, args...)
	if code != ExitOK {
		t.Fatalf("verify exit %d: %s %s", code, out, stderr)
	}
	var doc struct {
		OK      bool `json:"ok"`
		Writers []struct {
			Writer      string `json:"writer"`
			Records     int    `json:"records"`
			Checkpoints int    `json:"checkpoints"`
			Unprotected int    `json:"unprotected"`
		} `json:"writers"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("verify --json: %v\n%s", err, out)
	}
	if !doc.OK || len(doc.Writers) != 3 {
		t.Fatalf("verify: %s", out)
	}
	for _, w := range doc.Writers {
		// 3 requests (a decision and an outcome record each) and the
		// shutdown checkpoint, which seals them
		if w.Records != 7 || w.Checkpoints != 1 || w.Unprotected != 0 || !strings.HasPrefix(w.Writer, "node") {
			t.Errorf("writer %+v", w)
		}
	}

	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(data, []byte(`"action":"ping"`), []byte(`"action":"pong"`), 1)
	if err := os.WriteFile(files[0], edited, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr = runCLI(t, "audit", "verify", "--config", conf, files[0])
	if code != ExitFailed || !strings.Contains(out, files[0]+":2: broken:") || !strings.Contains(stderr, "does not verify") {
		t.Fatalf("verify of an edited file: exit %d\n%s\n%s", code, out, stderr)
	}
}

func TestAuditVerifyUsage(t *testing.T) {
	if code, _, stderr := runCLI(t, "audit", "verify"); code != ExitUsage || !strings.Contains(stderr, "--stream") {
		t.Fatalf("verify without files: exit %d, %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "audit", "verify", "--ca", "/nonexistent/ca.pem", "x.log"); code != ExitFailed || !strings.Contains(stderr, "read CA") {
		t.Fatalf("verify with a missing CA: exit %d, %s", code, stderr)
	}
}

// TestE2EAuditVerifyStream: the nodes of a real fleet (the tutti broker
// with JetStream, plugin.tutti.audit.stream on) deliver their chained
// records through their spools to the broker's audit stream; verify
// --stream, with an audit reader certificate (nothing more than the
// reader role), passes. Then an admin, who may purge the stream but not
// delete single records, purges two nodes' records and publishes them
// again, one without a record and one with a record edited: verify
// names the first missing record and the broken link.
func TestE2EAuditVerifyStream(t *testing.T) {
	a := startAuditFleet(t, "plugin.tutti.audit.stream = true", "plugin.tutti.audit.checkpoint_records = 3")
	conf := filepath.Join(a.Dir, "demo.conf")
	for range 3 {
		if code, out, stderr := runCLI(t, "rpc", "--config", conf, "rpcutil", "ping", "--json"); code != ExitOK {
			t.Fatalf("rpc exit %d: %s %s", code, out, stderr)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := a.admin.Stream(ctx, auditStreamName)
	if err != nil {
		t.Fatal(err)
	}
	// every line of every node's file reaches the stream, in order
	var bySubject map[string][][]byte
	files := map[string][]string{}
	deadline := time.Now().Add(20 * time.Second)
	for {
		bySubject = streamRecords(ctx, t, stream)
		same := true
		for _, path := range a.nodeAuditFiles() {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			id := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), "audit-"), ".log")
			files[id] = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
			got := bySubject["tutti.audit.node."+id]
			same = same && len(got) == len(files[id])
			for i := range got {
				same = same && i < len(files[id]) && string(got[i]) == files[id][i]
			}
		}
		if same {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stream's node records %q are not the files' %q", bySubject, files)
		}
		time.Sleep(50 * time.Millisecond)
	}

	code, out, stderr := runCLI(t, "audit", "verify", "--stream", "--config", a.readerConf, "--json")
	if code != ExitOK {
		t.Fatalf("verify --stream as the audit reader: exit %d: %s %s", code, out, stderr)
	}
	var doc struct {
		OK      bool `json:"ok"`
		Writers []struct {
			Writer      string `json:"writer"`
			Records     int    `json:"records"`
			Checkpoints int    `json:"checkpoints"`
		} `json:"writers"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("verify --json: %v\n%s", err, out)
	}
	if !doc.OK || len(doc.Writers) != 3 {
		t.Fatalf("verify --stream: %s", out)
	}
	for _, w := range doc.Writers {
		if w.Records != len(files[w.Writer]) || w.Checkpoints < 2 {
			t.Errorf("writer %+v, file holds %d records", w, len(files[w.Writer]))
		}
	}

	// The admin rewrites history: node2 without its third record, node1
	// with its second record's action edited.
	n1, n2 := "node1.demo.example.net", "node2.demo.example.net"
	dropped, err := audit.DecodeLink(bySubject["tutti.audit.node."+n2][2])
	if err != nil {
		t.Fatal(err)
	}
	edited, err := audit.DecodeLink(bySubject["tutti.audit.node."+n1][1])
	if err != nil || !bytes.Contains(bySubject["tutti.audit.node."+n1][1], []byte(`"action":"ping"`)) {
		t.Fatalf("node1's second record %s: %v", bySubject["tutti.audit.node."+n1][1], err)
	}
	rewrite := func(id string, change func(i int, line []byte) []byte) {
		subj := "tutti.audit.node." + id
		if err := stream.Purge(ctx, jetstream.WithPurgeSubject(subj)); err != nil {
			t.Fatalf("admin purge of %s: %v", subj, err)
		}
		for i, line := range bySubject[subj] {
			if line = change(i, line); line == nil {
				continue
			}
			if _, err := a.admin.Publish(ctx, subj, line); err != nil {
				t.Fatal(err)
			}
		}
	}
	rewrite(n1, func(i int, line []byte) []byte {
		if i == 1 {
			return bytes.Replace(line, []byte(`"action":"ping"`), []byte(`"action":"pong"`), 1)
		}
		return line
	})
	rewrite(n2, func(i int, line []byte) []byte {
		if i == 2 {
			return nil
		}
		return line
	})
	n3 := "node3.demo.example.net"
	rewrite(n3, func(i int, line []byte) []byte { // the oldest two gone, as max_age would
		if i < 2 {
			return nil
		}
		return line
	})
	code, out, stderr = runCLI(t, "audit", "verify", "--stream", "--config", a.readerConf)
	head := fmt.Sprintf("missing: writer %s seq 3: seq 1 to 2 are missing before the writer's first record", n3)
	if !strings.Contains(out, head) {
		t.Fatalf("verify --stream of a stream without node3's first records:\n%s\nwant %q", out, head)
	}
	code, out, stderr = runCLI(t, "audit", "verify", "--stream", "--allow-purged", "--config", a.readerConf)
	if strings.Contains(out, head) || !strings.Contains(out, "seq 1-2 purged (not checked)") {
		t.Fatalf("verify --stream --allow-purged:\n%s\nwant node3's head reported as purged", out)
	}
	missing := fmt.Sprintf("missing: writer %s seq %d: seq %d to %d are missing", n2, dropped.Seq+1, dropped.Seq, dropped.Seq)
	broken := fmt.Sprintf("broken: writer %s seq %d: prev does not match the hash of seq %d", n1, edited.Seq+1, edited.Seq)
	if code != ExitFailed || !strings.Contains(out, auditStreamName+":") || !strings.Contains(out, missing) ||
		!strings.Contains(out, broken) || !strings.Contains(stderr, "does not verify: "+auditStreamName) {
		t.Fatalf("verify --stream of a rewritten stream: exit %d\n%s\n%s\nwant %q and %q", code, out, stderr, missing, broken)
	}
}

// streamRecords reads every message of the stream, by subject in order.
func streamRecords(ctx context.Context, t *testing.T, s jetstream.Stream) map[string][][]byte {
	t.Helper()
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][][]byte{}
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // purged
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range audit.MessageLines(m.Data) { // a node's message holds one record a line
			out[m.Subject] = append(out[m.Subject], l)
		}
	}
	return out
}
