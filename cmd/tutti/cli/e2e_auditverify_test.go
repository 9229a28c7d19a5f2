package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
