package cli

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/dial"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security/x509"
)

// ghost is a node that does not exist: the forger answers for it.
const ghost = "ghost.demo.example.net"

// replyForger is a compromised node: the attacker replaced its tuttid and
// holds its key. Connected to the broker with the node's certificate, it
// hears broadcast requests and the requests sent to its node, and
// answers each of them on the caller's reply subject with forged replies
// claiming to be ghost — one unsigned (as a Choria server would send)
// and, with signed, one signed by its own certificate, whose name is not
// ghost — then with its node's genuine reply.
type replyForger struct {
	t      *testing.T
	conn   connector.Connector
	node   *x509.Provider
	signed bool
	sent   atomic.Int32
}

func newReplyForger(t *testing.T, f *Fleet, node string, signed bool) *replyForger {
	t.Helper()
	for _, n := range f.Nodes {
		if n.Config.Identity == node {
			n.Shutdown(context.Background())
		}
	}
	cfg, _, err := config.LoadServer(filepath.Join(f.Dir, node+".conf"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := x509.New(x509.ConfigFrom(cfg.Security))
	if err != nil {
		t.Fatal(err)
	}
	l := logrus.New()
	l.SetOutput(testWriter{t})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := dial.Open(ctx, dial.ConfigFrom(&cfg.Common), p, logrus.NewEntry(l))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	fg := &replyForger{t: t, conn: conn, node: p, signed: signed}
	for _, d := range []connector.Destination{
		{Kind: connector.Broadcast, Collective: "mcollective", Agent: "discovery"},
		{Kind: connector.Broadcast, Collective: "mcollective", Agent: "rpcutil"},
		{Kind: connector.Directed, Collective: "mcollective", Identity: node},
	} {
		if _, err := conn.Subscribe(d, fg.answer); err != nil {
			t.Fatalf("forger subscribe %+v: %v", d, err)
		}
	}
	if err := conn.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return fg
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// answer publishes the forged replies to one request.
func (fg *replyForger) answer(m connector.Message) {
	tr, err := protocol.DecodeTransport(m.Data, 0)
	if err != nil {
		return
	}
	sr, err := protocol.DecodeSecureRequest(tr.Data)
	if err != nil {
		return
	}
	req, err := protocol.DecodeRequest(sr.Message)
	if err != nil {
		return
	}
	body := "pong"
	if req.Agent != "discovery" {
		b, err := protocol.EncodeRPCReply(&protocol.RPCReply{Action: "ping", StatusMsg: "OK", Data: json.RawMessage(`{"pong":1}`)})
		if err != nil {
			fg.t.Error(err)
			return
		}
		body = string(b)
	}
	fg.publish(tr.ReplyTo, req, ghost, body, false)
	if fg.signed {
		fg.publish(tr.ReplyTo, req, ghost, body, true)
	}
	// The client verifies replies in parallel and stops waiting at the
	// expected count: the genuine reply comes a little later, so the
	// forgeries are verified (and reported) before the wait ends.
	time.Sleep(100 * time.Millisecond)
	fg.publish(tr.ReplyTo, req, fg.node.Name(), body, true)
}

func (fg *replyForger) publish(replyTo string, req *protocol.Request, sender, body string, sign bool) {
	msg, err := protocol.EncodeReply(&protocol.Reply{RequestID: req.ID, SenderID: sender, Agent: req.Agent, Time: time.Now().Unix(), Message: body})
	if err != nil {
		fg.t.Error(err)
		return
	}
	sec := &protocol.SecureReply{Message: msg}
	if sign {
		if sec.Signature, err = fg.node.Sign(msg); err != nil {
			fg.t.Error(err)
			return
		}
		sec.PubCert = fg.node.CertificatePEM()
	}
	data, err := protocol.EncodeSecureReply(sec)
	if err != nil {
		fg.t.Error(err)
		return
	}
	out, err := protocol.EncodeTransport(&protocol.Transport{Data: data, Sender: sender})
	if err != nil {
		fg.t.Error(err)
		return
	}
	if err := fg.conn.Publish(context.Background(), connector.Destination{Kind: connector.Reply, ReplyTo: replyTo}, out); err != nil {
		if !errors.Is(err, connector.ErrClosed) { // closed: the test is over
			fg.t.Errorf("forger publish: %v", err)
		}
		return
	}
	_ = fg.conn.Flush(context.Background())
	fg.sent.Add(1)
}

type forgedPingDoc struct {
	Replies []struct {
		Sender       string `json:"sender"`
		Verification string `json:"verification"`
	} `json:"replies"`
	Refused []refusedReply `json:"refused"`
	// Stats has the names of rpc --json's (one schema, docs/cli.md).
	Stats rpcStats `json:"stats"`
}

func (p forgedPingDoc) senders() []string {
	var s []string
	for _, r := range p.Replies {
		s = append(s, r.Sender+"/"+r.Verification)
	}
	slices.Sort(s)
	return s
}

type forgedRPCDoc struct {
	Replies []rpcResult    `json:"replies"`
	Refused []refusedReply `json:"refused"`
	NoReply []string       `json:"no_reply"`
	Stats   rpcStats       `json:"stats"`
}

func (r forgedRPCDoc) senders() []string {
	var s []string
	for _, x := range r.Replies {
		s = append(s, x.Sender+"/"+x.Verification.String())
	}
	slices.Sort(s)
	return s
}

// With signed replies required (the default), a compromised node's
// forged replies — unsigned, or signed by its own certificate for
// another name — are refused by ping, discover, rpc and its discovery:
// never listed as a node, reported with the claimed sender and reason,
// exit 3.
func TestE2EForgedRepliesRefused(t *testing.T) {
	f := startFleet(t, 2)
	conf := filepath.Join(f.Dir, "demo.conf")
	fg := newReplyForger(t, f, "node2.demo.example.net", true)
	verified := []string{"node1.demo.example.net/verified", "node2.demo.example.net/verified"}

	t.Run("ping --json", func(t *testing.T) {
		code, out, stderr := runCLI(t, "ping", "--config", conf, "--json")
		var p forgedPingDoc
		if err := json.Unmarshal([]byte(out), &p); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if code != ExitRefused || !slices.Equal(p.senders(), verified) {
			t.Fatalf("exit %d, replies %v\n%s\n%s", code, p.senders(), out, stderr)
		}
		if p.Stats.Replies != 2 || p.Stats.Refused != 2 ||
			p.Stats.RefusedReasons["unsigned"] != 1 || p.Stats.RefusedReasons["certificate name mismatch"] != 1 {
			t.Fatalf("summary %+v", p.Stats)
		}
		for _, r := range p.Refused {
			if r.Sender != ghost || r.Error == "" {
				t.Fatalf("refused %+v", r)
			}
		}
		if !strings.Contains(stderr, "reply refused") || !strings.Contains(stderr, "sender="+ghost) {
			t.Fatalf("refusals not logged:\n%s", stderr)
		}
	})
	t.Run("ping", func(t *testing.T) {
		code, out, _ := runCLI(t, "ping", "--config", conf)
		if code != ExitRefused || !strings.Contains(out, "2 replies refused: 1 certificate name mismatch, 1 unsigned") ||
			!strings.Contains(out, "2 replies max") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, ghost) || (strings.Contains(line, ghost) && !strings.HasPrefix(line, "refused: reply claiming to be from "+ghost)) {
				t.Fatalf("%s listed as a node: %q\n%s", ghost, line, out)
			}
		}
	})
	t.Run("discover", func(t *testing.T) {
		code, out, stderr := runCLI(t, "discover", "--config", conf)
		if code != ExitRefused || out != "node1.demo.example.net\nnode2.demo.example.net\n" {
			t.Fatalf("exit %d, stdout %q\n%s", code, out, stderr)
		}
		if !strings.Contains(stderr, "reply claiming to be from "+ghost+": unsigned") ||
			!strings.Contains(stderr, "2 replies refused: 1 certificate name mismatch, 1 unsigned; not listed") {
			t.Fatalf("stderr:\n%s", stderr)
		}
	})
	t.Run("rpc after discovery", func(t *testing.T) {
		code, out, stderr := runCLI(t, "rpc", "rpcutil", "ping", "--config", conf, "--json")
		var r forgedRPCDoc
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if code != ExitRefused || !slices.Equal(r.senders(), verified) || len(r.NoReply) != 0 || r.Stats.Nodes != 2 {
			t.Fatalf("the forged discovery reply must not add a target: exit %d\n%s\n%s", code, out, stderr)
		}
		stages := map[string]int{}
		for _, x := range r.Refused {
			if x.Sender != ghost {
				t.Fatalf("refused %+v", x)
			}
			stages[x.Stage]++
		}
		// discovery: both forgeries; request: both again, from node2's
		// directed subject.
		if stages["discovery"] != 2 || stages[""] != 2 || r.Stats.Refused != 4 || r.Stats.RefusedReasons["unsigned"] != 2 {
			t.Fatalf("refused %+v, stats %+v", r.Refused, r.Stats)
		}
	})
	t.Run("rpc human", func(t *testing.T) {
		code, out, _ := runCLI(t, "rpc", "rpcutil", "ping", "--config", conf, "-I", "node2.demo.example.net")
		if code != ExitRefused || !strings.Contains(out, "on 1 / 1 nodes") || !strings.Contains(out, "1 OK, 0 failed, 0 no reply") ||
			!strings.Contains(out, "2 replies refused: 1 certificate name mismatch, 1 unsigned (not counted as nodes that answered)") ||
			!strings.Contains(out, "refused: reply claiming to be from "+ghost+": certificate name mismatch: ") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		if strings.HasPrefix(out, ghost+"\n") || strings.Contains(out, "\n"+ghost+"\n") || !strings.HasPrefix(out, "node2.demo.example.net\n") {
			t.Fatalf("forged reply shown as a reply block:\n%s", out)
		}
	})
	t.Run("inventory", func(t *testing.T) {
		code, out, stderr := runCLI(t, "inventory", "node2.demo.example.net", "--config", conf, "--json")
		if code != ExitRefused || !strings.Contains(out, `"identity": "node2.demo.example.net"`) ||
			!strings.Contains(stderr, "reply claiming to be from "+ghost) {
			t.Fatalf("exit %d:\n%s\n%s", code, out, stderr)
		}
	})
	if fg.sent.Load() == 0 {
		t.Fatal("the forger sent nothing")
	}
}

// With plugin.tutti.require_signed_replies = false (fleets with Choria
// servers) an unsigned reply is accepted, but marked and counted.
func TestE2EUnsignedRepliesAcceptedWhenAllowed(t *testing.T) {
	f := startFleet(t, 2)
	conf := filepath.Join(f.Dir, "choria-fleet.conf")
	if err := writeFile(conf, readFile(t, filepath.Join(f.Dir, "demo.conf"))+"plugin.tutti.require_signed_replies = false\n", 0o644); err != nil {
		t.Fatal(err)
	}
	newReplyForger(t, f, "node2.demo.example.net", false)

	code, out, stderr := runCLI(t, "ping", "--config", conf, "--json")
	var p forgedPingDoc
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := []string{ghost + "/unsigned", "node1.demo.example.net/verified", "node2.demo.example.net/verified"}
	if code != ExitOK || !slices.Equal(p.senders(), want) || p.Stats.Unsigned != 1 || p.Stats.Refused != 0 {
		t.Fatalf("exit %d, replies %v, summary %+v\n%s", code, p.senders(), p.Stats, stderr)
	}
	if !strings.Contains(stderr, "unsigned replies are accepted") {
		t.Fatalf("the config warning is missing:\n%s", stderr)
	}

	code, out, _ = runCLI(t, "ping", "--config", conf)
	if code != ExitOK || !strings.Contains(out, ghost) || !strings.Contains(out, "(unsigned reply)") ||
		!strings.Contains(out, "Unsigned replies accepted: 1 (plugin.tutti.require_signed_replies = false") {
		t.Fatalf("exit %d:\n%s", code, out)
	}

	code, out, stderr = runCLI(t, "discover", "--config", conf)
	if code != ExitOK || !strings.Contains(out, ghost) || !strings.Contains(stderr, "Unsigned replies accepted: 1") ||
		!strings.Contains(stderr, ": "+ghost) {
		t.Fatalf("exit %d:\n%s\n%s", code, out, stderr)
	}

	code, out, _ = runCLI(t, "rpc", "rpcutil", "ping", "--config", conf, "-I", "node2.demo.example.net", "--json")
	var r forgedRPCDoc
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !slices.Contains(r.senders(), ghost+"/unsigned") || r.Stats.Unsigned != 1 || r.Stats.Refused != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
