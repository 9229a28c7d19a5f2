package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/client"
	"github.com/tuttifleet/tutti/cmd/tutti/internal/demo"
	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server"
)

func startFleet(t *testing.T, n int, brokerConf ...string) *Fleet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f, err := demo.StartFleet(ctx, t.TempDir(), n, brokerConf...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f
}

// runCLI runs the CLI as a user would. Its streams are locked buffers:
// as a process's stderr may be, they are written by Main and by the
// connector's goroutines (a STOMP connection's supervisor logs a broker
// restart while Main prints).
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb lockedBuffer
	code := Main(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestE2EPingAndRPC(t *testing.T) {
	f := startFleet(t, 3)
	conf := filepath.Join(f.Dir, "demo.conf")

	code, out, stderr := runCLI(t, "ping", "--config", conf, "--json", "--expect", "3")
	if code != ExitOK {
		t.Fatalf("ping exit %d: %s %s", code, out, stderr)
	}
	var ping struct {
		Replies []struct {
			Sender       string `json:"sender"`
			Verification string `json:"verification"`
		} `json:"replies"`
	}
	if err := json.Unmarshal([]byte(out), &ping); err != nil {
		t.Fatalf("ping --json: %v\n%s", err, out)
	}
	if len(ping.Replies) != 3 {
		t.Fatalf("want 3 replies, got %+v", ping.Replies)
	}
	for _, r := range ping.Replies {
		if r.Verification != "verified" || !strings.HasSuffix(r.Sender, ".demo.example.net") {
			t.Fatalf("reply %+v", r)
		}
	}

	code, out, stderr = runCLI(t, "rpc", "rpcutil", "ping", "--config", conf, "--json")
	if code != ExitOK {
		t.Fatalf("rpc exit %d: %s %s", code, out, stderr)
	}
	var rpc struct {
		Replies []rpcResult `json:"replies"`
		NoReply []string    `json:"no_reply"`
	}
	if err := json.Unmarshal([]byte(out), &rpc); err != nil {
		t.Fatal(err)
	}
	if len(rpc.Replies) != 3 || len(rpc.NoReply) != 0 {
		t.Fatalf("rpc: %+v", rpc)
	}
	for _, r := range rpc.Replies {
		if r.StatusCode != protocol.OK || r.Verification != client.Verified || !strings.Contains(string(r.Data), "pong") {
			t.Fatalf("reply %+v", r)
		}
	}

	// human output: one line per node, then a summary
	code, out, _ = runCLI(t, "ping", "--config", conf, "--expect", "3")
	if code != ExitOK || strings.Count(out, "time=") != 3 || !strings.Contains(out, "3 replies") {
		t.Fatalf("ping output (%d):\n%s", code, out)
	}

	// a fact filter selects the two web nodes only
	code, out, _ = runCLI(t, "rpc", "rpcutil", "get_fact", "fact=role", "-F", "role=web", "--config", conf, "--json")
	if code != ExitOK {
		t.Fatalf("filtered rpc exit %d: %s", code, out)
	}
	if err := json.Unmarshal([]byte(out), &rpc); err != nil {
		t.Fatal(err)
	}
	if len(rpc.Replies) != 2 {
		t.Fatalf("role=web should select 2 nodes: %+v", rpc.Replies)
	}
}

func TestE2EPolicyAndAudit(t *testing.T) {
	f := startFleet(t, 2)
	guest := filepath.Join(f.Dir, "guest.conf")
	code, out, _ := runCLI(t, "rpc", "rpcutil", "inventory", "--config", guest, "--json")
	if code != ExitFailed {
		t.Fatalf("denied rpc should exit %d, got %d: %s", ExitFailed, code, out)
	}
	if !strings.Contains(out, protocol.NotAuthorizedMsg) {
		t.Fatalf("denial message missing:\n%s", out)
	}
	code, out, _ = runCLI(t, "rpc", "rpcutil", "ping", "--config", guest, "--json")
	if code != ExitOK {
		t.Fatalf("guest may ping: %d %s", code, out)
	}
	// the same action by another user on the same nodes is allowed
	code, out, _ = runCLI(t, "rpc", "rpcutil", "inventory", "--config", filepath.Join(f.Dir, "demo.conf"), "--json")
	if code != ExitOK || !strings.Contains(out, `"main_collective"`) {
		t.Fatalf("demo may run inventory: %d %s", code, out)
	}
	b, err := os.ReadFile(filepath.Join(f.Dir, "audit-node1.demo.example.net.log"))
	if err != nil {
		t.Fatal(err)
	}
	var allow, deny, demoInventory int
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		if rec["caller"] == "choria=demo.mcollective" && rec["action"] == "inventory" && rec["decision"] == "allow" {
			demoInventory++
		}
		if rec["caller"] != "choria=guest.mcollective" {
			continue
		}
		switch rec["decision"] {
		case "allow":
			allow++
		case "deny":
			deny++
		}
	}
	if allow != 1 || deny != 1 || demoInventory != 1 {
		t.Fatalf("audit allow=%d deny=%d:\n%s", allow, deny, b)
	}
}

// forge builds a signed transport message as a client would, with hooks
// to break it.
type forge struct {
	t      *testing.T
	signer *x509.Provider
	req    protocol.Request
	// replyTo is the transport's reply-to; empty means the caller's own
	// reply subject
	replyTo string
	// edit, when set, changes the encoded request before it is signed
	edit func([]byte) []byte
}

func newForge(t *testing.T, f *Fleet, user string) *forge {
	t.Helper()
	pki := filepath.Join(f.Dir, "pki")
	p, err := x509.New(x509.Config{CertFile: filepath.Join(pki, user+".pem"), KeyFile: filepath.Join(pki, user+".key"), CAFile: filepath.Join(pki, "ca.pem")})
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := protocol.EncodeRPCRequest("rpcutil", "ping", nil)
	return &forge{t: t, signer: p, req: protocol.Request{
		ID: protocol.NewRequestID(), SenderID: user, CallerID: "choria=" + user, Collective: "mcollective", Agent: "rpcutil",
		TTL: 60, Time: time.Now().Unix(), Filter: protocol.NewFilter("rpcutil"), Message: msg,
	}}
}

func (fg *forge) bytes() []byte {
	raw, err := protocol.EncodeRequest(&fg.req)
	if err != nil {
		fg.t.Fatal(err)
	}
	if fg.edit != nil {
		raw = fg.edit(raw)
	}
	sig, err := fg.signer.Sign(raw)
	if err != nil {
		fg.t.Fatal(err)
	}
	sec, err := protocol.EncodeSecureRequest(&protocol.SecureRequest{Message: raw, Signature: sig, PubCert: fg.signer.CertificatePEM()})
	if err != nil {
		fg.t.Fatal(err)
	}
	tr, err := protocol.EncodeTransport(&protocol.Transport{Data: sec, ReplyTo: fg.replyToOrOwn(), Sender: fg.req.SenderID})
	if err != nil {
		fg.t.Fatal(err)
	}
	return tr
}

func (fg *forge) replyToOrOwn() string {
	if fg.replyTo != "" {
		return fg.replyTo
	}
	return connector.ReplyTo(fg.req.Collective, fg.req.CallerID, fg.req.ID)
}

func issueTo(t *testing.T, f *Fleet, name string, opts x509.IssueOptions) {
	t.Helper()
	ca, err := x509.LoadCADir(filepath.Join(f.Dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	is, err := ca.Issue(name, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := is.WriteFiles(filepath.Join(f.Dir, "pki")); err != nil {
		t.Fatal(err)
	}
}

// Every refusal of docs/protocol.md §7 on a real node with real certificates:
// an inspectable error with a kind, and no agent runs.
func TestE2ERefusals(t *testing.T) {
	f := startFleet(t, 1)
	node := f.Nodes[0]
	ctx := context.Background()
	issueTo(t, f, "expired.mcollective", x509.IssueOptions{NotBefore: time.Now().Add(-48 * time.Hour), Validity: 24 * time.Hour})
	issueTo(t, f, "future.mcollective", x509.IssueOptions{NotBefore: time.Now().Add(24 * time.Hour)})
	issueTo(t, f, "bob.example.org", x509.IssueOptions{})
	issueTo(t, f, "other.mcollective", x509.IssueOptions{})

	direct := connector.Destination{Kind: connector.Directed, Collective: "mcollective", Identity: node.Identity()}
	good := newForge(t, f, "demo.mcollective")
	if out := node.Process(ctx, rpcutilSubject, good.bytes()); out.Reply == nil {
		t.Fatalf("baseline request refused: %v", out.Dropped)
	}
	rogueCA, _ := x509.NewCA("rogue", x509.KeyECDSA, time.Hour)
	rogue, _ := rogueCA.Issue("demo.mcollective", x509.IssueOptions{})
	rogueP, err := x509.NewFromPEM(rogue.CertPEM, rogue.KeyPEM, rogueCA.CertPEM, x509.Config{})
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		msg  func() []byte
		kind *protocol.Error
		on   *connector.Destination // rpcutilSubject when nil
	}{
		{"malformed json", func() []byte { return []byte("{nope") }, protocol.ErrMalformed, nil},
		{"bad base64", func() []byte { return []byte(`{"protocol":"choria:transport:1","data":"%%%","headers":{}}`) }, protocol.ErrMalformed, nil},
		{"unknown protocol", func() []byte { return []byte(`{"protocol":"choria:transport:7","data":"eA==","headers":{}}`) }, protocol.ErrUnknownProtocol, nil},
		{"oversize", func() []byte { return append([]byte(`{"x":"`), bytes.Repeat([]byte("a"), 5<<20)...) }, protocol.ErrTooLarge, nil},
		{"untrusted CA", func() []byte { fg := newForge(t, f, "demo.mcollective"); fg.signer = rogueP; return fg.bytes() }, protocol.ErrCertificate, nil},
		{"expired certificate", func() []byte { return newForge(t, f, "expired.mcollective").bytes() }, protocol.ErrCertificate, nil},
		{"not yet valid certificate", func() []byte { return newForge(t, f, "future.mcollective").bytes() }, protocol.ErrCertificate, nil},
		{"callerid not the certificate", func() []byte {
			fg := newForge(t, f, "demo.mcollective")
			fg.req.CallerID = "choria=guest.mcollective"
			return fg.bytes()
		}, protocol.ErrCaller, nil},
		{"callerid with trailing junk", func() []byte {
			fg := newForge(t, f, "demo.mcollective")
			fg.req.CallerID = "choria=demo.mcollective/x"
			return fg.bytes()
		}, protocol.ErrCaller, nil},
		{"not on the allow list", func() []byte { return newForge(t, f, "bob.example.org").bytes() }, protocol.ErrCaller, nil},
		{"signature mismatch", func() []byte {
			fg := newForge(t, f, "demo.mcollective")
			msg := fg.bytes()
			tr, _ := protocol.DecodeTransport(msg, 0)
			sr, _ := protocol.DecodeSecureRequest(tr.Data)
			sr.Message = bytes.Replace(sr.Message, []byte(`"ttl":60`), []byte(`"ttl":61`), 1)
			tr.Data, _ = protocol.EncodeSecureRequest(sr)
			out, _ := protocol.EncodeTransport(tr)
			return out
		}, protocol.ErrSignature, nil},
		{"too old", func() []byte { fg := newForge(t, f, "demo.mcollective"); fg.req.Time -= 61; return fg.bytes() }, protocol.ErrTTL, nil},
		{"future", func() []byte { fg := newForge(t, f, "demo.mcollective"); fg.req.Time += 61; return fg.bytes() }, protocol.ErrTTL, nil},
		{"ttl above max", func() []byte { fg := newForge(t, f, "demo.mcollective"); fg.req.TTL = 86400; return fg.bytes() }, protocol.ErrTTL, nil},
		{"other collective", func() []byte { fg := newForge(t, f, "demo.mcollective"); fg.req.Collective = "prod"; return fg.bytes() }, protocol.ErrCollective, nil},
		{"unknown agent", func() []byte {
			fg := newForge(t, f, "demo.mcollective")
			fg.req.Agent = "nosuch"
			fg.req.Filter.Agent = nil
			return fg.bytes()
		}, protocol.ErrAgent, &direct},
		{"envelope agent is not the subject's agent", func() []byte {
			fg := newForge(t, f, "demo.mcollective")
			fg.req.Message, _ = protocol.EncodeRPCRequest("rpcutil", "ping", nil)
			return fg.bytes()
		}, protocol.ErrSubject, &connector.Destination{Kind: connector.Broadcast, Collective: "mcollective", Agent: "service"}},
		{"envelope collective is not the directed subject's", func() []byte {
			return newForge(t, f, "demo.mcollective").bytes()
		}, protocol.ErrSubject, &connector.Destination{Kind: connector.Directed, Collective: "other", Identity: node.Identity()}},
		{"reply-to of another caller", func() []byte {
			fg := newForge(t, f, "demo.mcollective")
			fg.replyTo = connector.ReplyTo("mcollective", "choria=bob.mcollective", fg.req.ID)
			return fg.bytes()
		}, protocol.ErrReplyTo, nil},
		{"reply-to without the caller's hash", func() []byte {
			fg := newForge(t, f, "demo.mcollective")
			fg.replyTo = "mcollective.reply.x." + fg.req.ID
			return fg.bytes()
		}, protocol.ErrReplyTo, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := node.Stats().Passed
			on := rpcutilSubject
			if c.on != nil {
				on = *c.on
			}
			out := node.Process(ctx, on, c.msg())
			if out.Reply != nil {
				t.Fatal("refused request got a reply")
			}
			if !errors.Is(out.Dropped, c.kind) {
				t.Fatalf("got %v, want kind %s", out.Dropped, c.kind.Kind)
			}
			if node.Stats().Passed != before {
				t.Fatal("refused request reached dispatch")
			}
		})
	}

	t.Run("replay", func(t *testing.T) {
		msg := newForge(t, f, "demo.mcollective").bytes()
		if out := node.Process(ctx, rpcutilSubject, msg); out.Reply == nil {
			t.Fatalf("first copy refused: %v", out.Dropped)
		}
		out := node.Process(ctx, rpcutilSubject, msg)
		if out.Reply != nil || !errors.Is(out.Dropped, protocol.ErrReplay) {
			t.Fatalf("replay not refused: %v", out.Dropped)
		}
	})
	t.Run("replay re-signed with a new time", func(t *testing.T) {
		fg := newForge(t, f, "demo.mcollective")
		if out := node.Process(ctx, rpcutilSubject, fg.bytes()); out.Reply == nil {
			t.Fatalf("first copy refused: %v", out.Dropped)
		}
		before := node.Stats().Replayed
		fg.req.Time--
		out := node.Process(ctx, rpcutilSubject, fg.bytes())
		if out.Reply != nil || !errors.Is(out.Dropped, protocol.ErrReplay) {
			t.Fatalf("same request id re-signed with a new time not refused: %v", out.Dropped)
		}
		if node.Stats().Replayed != before+1 {
			t.Fatal("replay not counted")
		}
		other := newForge(t, f, "other.mcollective")
		other.req.ID = fg.req.ID
		if out := node.Process(ctx, rpcutilSubject, other.bytes()); out.Reply == nil {
			t.Fatalf("the same id from another caller is another request, refused: %v", out.Dropped)
		}
	})
	t.Run("time within ttl accepted", func(t *testing.T) {
		for _, d := range []int64{-50, 50} {
			fg := newForge(t, f, "demo.mcollective")
			fg.req.Time += d
			if out := node.Process(ctx, rpcutilSubject, fg.bytes()); out.Reply == nil {
				t.Fatalf("time %+d refused: %v", d, out.Dropped)
			}
		}
	})
	t.Run("envelope and payload agents differ", func(t *testing.T) {
		fg := newForge(t, f, "demo.mcollective")
		fg.req.Message, _ = protocol.EncodeRPCRequest("other", "ping", nil)
		out := node.Process(ctx, rpcutilSubject, fg.bytes())
		rep := decodeRPCOutcome(t, out)
		if rep.StatusCode != protocol.Aborted {
			t.Fatalf("agent mismatch: %+v", rep)
		}
	})
	if lines := f.NodeLog.Lines("request refused"); len(lines) < len(cases) {
		t.Fatalf("every refusal must be logged with its reason; got %d lines", len(lines))
	}
}

// rpcutilSubject is the broadcast subject of rpcutil in mcollective.
var rpcutilSubject = connector.Destination{Kind: connector.Broadcast, Collective: "mcollective", Agent: "rpcutil"}

func decodeRPCOutcome(t *testing.T, out server.Outcome) *protocol.RPCReply {
	t.Helper()
	if out.Reply == nil {
		t.Fatalf("no reply: %v", out.Dropped)
	}
	tr, err := protocol.DecodeTransport(out.Reply, 0)
	if err != nil {
		t.Fatal(err)
	}
	sr, err := protocol.DecodeSecureReply(tr.Data)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := protocol.DecodeReply(sr.Message)
	if err != nil {
		t.Fatal(err)
	}
	body, err := protocol.DecodeRPCReply([]byte(rep.Message))
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func TestE2EUntrustedSignatureRefusedOverBroker(t *testing.T) {
	f := startFleet(t, 2)
	sum, err := demo.Rogue(context.Background(), f, filepath.Join(f.Dir, "demo.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Replies != 0 {
		t.Fatalf("forged request got %d replies", sum.Replies)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(f.NodeLog.Lines("request refused")) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("nodes did not log the refusal")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestE2EBrokerRefusalNamesSubjectAndCertificate: a node's certificate
// used as a client may not read replies; the command fails saying which
// subject and certificate the broker refused.
func TestE2EBrokerRefusalNamesSubjectAndCertificate(t *testing.T) {
	f := startFleet(t, 1)
	demo, err := os.ReadFile(filepath.Join(f.Dir, "demo.conf"))
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(f.Dir, "node-as-client.conf")
	body := strings.NewReplacer("identity = demo.mcollective", "identity = node1.demo.example.net",
		"pki/demo.mcollective.", "pki/node1.demo.example.net.").Replace(string(demo))
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI(t, "ping", "--config", conf, "--timeout", "1s")
	if code == ExitOK {
		t.Fatalf("ping with a node certificate succeeded: %s", out)
	}
	if !strings.Contains(stderr, "permission denied to subscribe to mcollective.reply.") || !strings.Contains(stderr, " as node1.demo.example.net") {
		t.Fatalf("exit %d, stderr does not name the refused subject and certificate:\n%s", code, stderr)
	}
}
