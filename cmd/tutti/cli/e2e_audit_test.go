package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tuttifleet/tutti/cmd/tutti/internal/demo"
	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/security/x509"
)

// auditFleet is a 3-node fleet with tutti-aaa, a broker with JetStream,
// an admin certificate that created the audit stream and an audit
// reader certificate (plugin.tutti.broker.audit_readers).
type auditFleet struct {
	*aaaFleet
	admin      jetstream.JetStream
	readerConf string // client.conf of auditor.demo.example.net
}

const (
	auditStreamName = "TUTTI_AUDIT"
	auditorName     = "auditor.demo.example.net"
)

// nodeLines are extra lines of every node's configuration.
func startAuditFleet(t *testing.T, nodeLines ...string) *auditFleet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f, err := demo.StartFleetConfig(ctx, t.TempDir(), 3, demo.FleetConfig{Node: nodeLines, Broker: []string{
		"plugin.choria.network.stream.store = " + filepath.Join(t.TempDir(), "js"),
		`plugin.tutti.broker.admin_certificates = ^admin\.demo\.example\.net$`,
		`plugin.tutti.broker.audit_readers = ^auditor\.demo\.example\.net$`,
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	pki := filepath.Join(f.Dir, "pki")
	ca, err := x509.LoadCADir(pki)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"admin.demo.example.net", auditorName} {
		is, err := ca.Issue(name, x509.IssueOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := is.WriteFiles(pki); err != nil {
			t.Fatal(err)
		}
	}
	guest, err := os.ReadFile(filepath.Join(f.Dir, "guest.conf"))
	if err != nil {
		t.Fatal(err)
	}
	readerConf := filepath.Join(f.Dir, "auditor.conf")
	if err := os.WriteFile(readerConf, bytes.ReplaceAll(guest, []byte("guest.mcollective"), []byte(auditorName)), 0o644); err != nil {
		t.Fatal(err)
	}
	admin := connectAs(t, f.Dir, "admin.demo.example.net")
	js, err := jetstream.New(admin)
	if err != nil {
		t.Fatal(err)
	}
	// The broker creates the audit stream itself once JetStream is up.
	for {
		if _, err := js.Stream(ctx, auditStreamName); err == nil {
			break
		} else if ctx.Err() != nil {
			t.Fatalf("the broker did not create the audit stream %s: %v", auditStreamName, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &auditFleet{aaaFleet: startAAAFleetOn(t, f), admin: js, readerConf: readerConf}
}

// connectAs opens a raw NATS connection with a certificate of the
// fleet's PKI, its inbox under the certificate's prefix.
func connectAs(t *testing.T, dir, name string) *nats.Conn {
	t.Helper()
	cfg, _, err := config.LoadClient(filepath.Join(dir, "guest.conf"))
	if err != nil {
		t.Fatal(err)
	}
	pki := filepath.Join(dir, "pki")
	cert, err := tls.LoadX509KeyPair(filepath.Join(pki, name+".pem"), filepath.Join(pki, name+".key"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := x509.New(x509.ConfigFrom(cfg.Security))
	if err != nil {
		t.Fatal(err)
	}
	tlsc := &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: p.CAPool(), MinVersion: tls.VersionTLS12}
	nc, err := nats.Connect(strings.Join(cfg.NATS.Hosts, ","), nats.Secure(tlsc), nats.CustomInboxPrefix(x509.InboxPrefix(name)),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})) // refusals are asserted, not printed
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// shipAuditFiles publishes every line of the nodes' and the signer's
// audit files to the stream with the admin certificate, each with the
// line's SHA-256 as Nats-Msg-Id. It stands in for the audit spool
// (another part of the same work) that does this on each writer.
func (a *auditFleet) shipAuditFiles(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ship := func(path, subject string) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			sum := sha256.Sum256(sc.Bytes())
			if _, err := a.admin.Publish(ctx, subject, sc.Bytes(), jetstream.WithMsgID(hex.EncodeToString(sum[:]))); err != nil {
				t.Fatal(err)
			}
		}
	}
	ship(a.env.Config.LogfileAuditor.Logfile, "tutti.aaa.audit.test")
	for _, path := range a.nodeAuditFiles() {
		id := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), "audit-"), ".log")
		ship(path, "tutti.audit.node."+id)
	}
}

func (a *auditFleet) nodeAuditFiles() []string {
	var out []string
	for i := 1; i <= 3; i++ {
		out = append(out, filepath.Join(a.Dir, "audit-node"+string(rune('0'+i))+".demo.example.net.log"))
	}
	return out
}

// rpcID runs one rpc as the logged-in user and returns its request id.
func (a *auditFleet) rpcID(t *testing.T, args ...string) string {
	t.Helper()
	_, out, stderr := runCLI(t, append([]string{"rpc", "--config", a.conf, "--json"}, args...)...)
	var doc struct {
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || doc.RequestID == "" {
		t.Fatalf("rpc %v: no request id in %q (%v) %s", args, out, err, stderr)
	}
	return doc.RequestID
}

var (
	auditTimes     = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`)
	auditDurations = regexp.MustCompile(`\d+\.\d{3}ms`)
	auditSpaces    = regexp.MustCompile(`  +`)
)

// maskTrace replaces what changes from run to run.
func maskTrace(out, id string) string {
	out = strings.ReplaceAll(out, id, "REQUEST_ID")
	out = auditTimes.ReplaceAllString(out, "TIME")
	out = auditDurations.ReplaceAllString(out, "Nms")
	return auditSpaces.ReplaceAllString(out, "  ")
}

// TestE2EAuditShowTail: requests through tutti-aaa to 3 nodes; their
// records and the signer's in the stream; audit show traces one request
// (golden), from the stream as the audit reader and from the files;
// audit tail filters and follows.
func TestE2EAuditShowTail(t *testing.T) {
	a := startAuditFleet(t)
	a.login(t, "bob")
	ping := a.rpcID(t, "rpcutil", "ping")
	denied := a.rpcID(t, "rpcutil", "inventory")
	a.shipAuditFiles(t)

	for _, mode := range []struct {
		name string
		args []string
	}{
		{"stream", []string{"--config", a.readerConf}},
		{"files", append([]string{"--config", a.readerConf, "--file", a.env.Config.LogfileAuditor.Logfile},
			fileFlags(a.nodeAuditFiles())...)},
	} {
		t.Run(mode.name, func(t *testing.T) {
			for _, c := range []struct{ id, golden string }{{ping, "audit_show_ping.txt"}, {denied, "audit_show_denied.txt"}} {
				code, out, stderr := runCLI(t, append([]string{"audit", "show", c.id}, mode.args...)...)
				if code != ExitOK {
					t.Fatalf("audit show: exit %d: %s", code, stderr)
				}
				golden(t, c.golden, maskTrace(out, c.id))
			}
			code, out, _ := runCLI(t, append([]string{"audit", "show", ping, "--json"}, mode.args...)...)
			var tr auditTrace
			if err := json.Unmarshal([]byte(out), &tr); code != ExitOK || err != nil {
				t.Fatalf("show --json: exit %d, %v: %s", code, err, out)
			}
			if tr.Caller != "up=bob" || tr.SignerDecision != "allow" || len(tr.Nodes) != 3 || tr.Signer == "" {
				t.Fatalf("trace %+v", tr)
			}
			for _, n := range tr.Nodes {
				if n.Signer != tr.Signer || n.Decision != "allow" || n.StatusCode == nil || *n.StatusCode != 0 || n.Received == nil || n.DurationMS == nil {
					t.Fatalf("node %+v does not join the signer's record %q", n, tr.Signer)
				}
			}
			if code, _, stderr := runCLI(t, append([]string{"audit", "show", "00000000000000000000000000000000"}, mode.args...)...); code != ExitNoReplies {
				t.Fatalf("unknown request: exit %d: %s", code, stderr)
			}
			// tail: the three node denials, nothing else.
			code, out, stderr := runCLI(t, append([]string{"audit", "tail", "--since", "1h", "--decision", "deny", "--count", "3"}, mode.args...)...)
			if code != ExitOK || strings.Count(out, "\n") != 3 || strings.Count(out, denied) != 3 || strings.Contains(out, ping) {
				t.Fatalf("tail --decision deny: exit %d:\n%s%s", code, out, stderr)
			}
			code, out, _ = runCLI(t, append([]string{"audit", "tail", "--since", "1h", "--node", "node2.*", "--action", "ping", "--json", "--count", "2"}, mode.args...)...)
			if code != ExitOK || strings.Count(out, `"identity":"node2.demo.example.net"`) != 2 ||
				!strings.Contains(out, `"kind":"decision"`) || !strings.Contains(out, `"kind":"outcome"`) {
				t.Fatalf("tail --node --json: exit %d:\n%s", code, out)
			}
		})
	}
	t.Run("follow", func(t *testing.T) { a.testFollow(t) })
}

// testFollow: tail prints a record published after it started.
func (a *auditFleet) testFollow(t *testing.T) {
	for _, mode := range []string{"stream", "file"} {
		t.Run(mode, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "follow.log")
			args := []string{"audit", "tail", "--config", a.readerConf, "--caller", "up=follow", "--count", "1"}
			if mode == "file" {
				args = append(args, "--file", path)
			}
			type result struct {
				code     int
				out, err string
			}
			done := make(chan result, 1)
			go func() {
				var out, errb bytes.Buffer
				code := Main(args, strings.NewReader(""), &out, &errb)
				done <- result{code, out.String(), errb.String()}
			}()
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			deadline := time.After(20 * time.Second)
			for i := 0; ; i++ {
				select {
				case r := <-done:
					if r.code != ExitOK || !strings.Contains(r.out, "caller=up=follow") || strings.Count(r.out, "\n") != 1 {
						t.Fatalf("tail: exit %d:\n%s%s", r.code, r.out, r.err)
					}
					return
				case <-deadline:
					t.Fatal("tail printed nothing")
				case <-tick.C:
				}
				line := `{"timestamp":"2026-11-22T14:31:17.000000+0000","request_id":"f` + string(rune('a'+i%26)) + `","request_time":0,"caller":"up=follow","sender":"x","agent":"rpcutil","action":"ping","data":{}}` + "\n"
				if mode == "file" {
					fh, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
					if err != nil {
						t.Fatal(err)
					}
					_, _ = fh.WriteString(line)
					fh.Close()
					continue
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				if _, err := a.admin.Publish(ctx, "tutti.audit.node.follow", []byte(line)); err != nil {
					t.Fatal(err)
				}
				cancel()
			}
		})
	}
}

func fileFlags(paths []string) []string {
	var out []string
	for _, p := range paths {
		out = append(out, "--file", p)
	}
	return out
}

// TestE2EAuditReaderPermissions: the audit reader reads the audit stream
// and nothing else; it cannot purge or delete it, nor read another
// stream, nor publish records.
func TestE2EAuditReaderPermissions(t *testing.T) {
	a := startAuditFleet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := a.admin.CreateStream(ctx, jetstream.StreamConfig{Name: "OTHER", Subjects: []string{"other.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.admin.Publish(ctx, "tutti.audit.node.n1", []byte(`{"request_id":"r1","caller":"up=x"}`)); err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(connectAs(t, a.Dir, auditorName))
	if err != nil {
		t.Fatal(err)
	}
	short := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, time.Second) }
	s, err := js.Stream(ctx, auditStreamName)
	if err != nil {
		t.Fatalf("the audit reader cannot read the stream info: %v", err)
	}
	if _, err := s.GetMsg(ctx, 1); err != nil {
		t.Fatalf("the audit reader cannot get a message: %v", err)
	}
	for name, try := range map[string]func(context.Context) error{
		"purge":      func(c context.Context) error { return s.Purge(c) },
		"delete":     func(c context.Context) error { return js.DeleteStream(c, auditStreamName) },
		"delete msg": func(c context.Context) error { return s.DeleteMsg(c, 1) },
		"update": func(c context.Context) error {
			_, err := js.UpdateStream(c, jetstream.StreamConfig{Name: auditStreamName, Subjects: []string{">"}})
			return err
		},
		"other stream": func(c context.Context) error { _, err := js.Stream(c, "OTHER"); return err },
		"publish": func(c context.Context) error {
			_, err := js.Publish(c, "tutti.audit.node.n1", []byte(`{}`))
			return err
		},
	} {
		c, cancel := short()
		if err := try(c); err == nil {
			t.Errorf("the audit reader could %s", name)
		}
		cancel()
	}
	if n, err := a.admin.Stream(ctx, auditStreamName); err != nil || n.CachedInfo().State.Msgs != 1 {
		t.Fatalf("the audit stream changed: %v", err)
	}
	// A plain client (guest) may not read the audit stream at all.
	guest, err := jetstream.New(connectAs(t, a.Dir, "guest.mcollective"))
	if err != nil {
		t.Fatal(err)
	}
	c, cancel2 := short()
	defer cancel2()
	if _, err := guest.Stream(c, auditStreamName); err == nil {
		t.Error("a client without the audit reader role read the stream")
	}
}
