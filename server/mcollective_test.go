package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/aaa/actionpolicy"
	"github.com/tuttifleet/tutti/aaa/audit"
	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/mcollective"
	rm "github.com/tuttifleet/tutti/connector/mcollective/rubymarshal"
	"github.com/tuttifleet/tutti/security/mcossl"
	"github.com/tuttifleet/tutti/security/replay"
	"github.com/tuttifleet/tutti/server"
	"github.com/tuttifleet/tutti/server/facts"
)

// mcoConn records the replies a node publishes, with their payloads.
type mcoConn struct {
	nopConn
	mu      sync.Mutex
	subs    map[connector.Destination]connector.Handler
	replies chan mcoPublished
}

type mcoPublished struct {
	to   string
	data []byte
}

func (c *mcoConn) Subscribe(d connector.Destination, h connector.Handler) (connector.Subscription, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.subs[d] = func(m connector.Message) { m.Destination = d; h(m) }
	return nopSub{}, nil
}

func (c *mcoConn) Publish(_ context.Context, d connector.Destination, b []byte) error {
	c.replies <- mcoPublished{to: d.ReplyTo, data: b}
	return nil
}

type policyFunc func(actionpolicy.Request) actionpolicy.Decision

func (f policyFunc) Authorize(r actionpolicy.Request) actionpolicy.Decision { return f(r) }

type memAudit struct {
	mu   sync.Mutex
	recs []string
}

func (a *memAudit) Audit(_ context.Context, e audit.Entry) error {
	b, err := e.AppendAudit(nil)
	a.mu.Lock()
	a.recs = append(a.recs, string(b))
	a.mu.Unlock()
	return err
}
func (a *memAudit) Reopen() error { return nil }
func (a *memAudit) Close() error  { return nil }

func (a *memAudit) all() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return strings.Join(a.recs, "\n")
}

type mcoRig struct {
	conn      *mcoConn
	ser       mcollective.Serializer
	alice     *rsa.PrivateKey
	serverPub *rsa.PublicKey
	audit     *memAudit
}

func writePub(t *testing.T, path string, k *rsa.PublicKey) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

func newMCORig(t *testing.T, ser mcollective.Serializer) *mcoRig {
	t.Helper()
	alice, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writePub(t, filepath.Join(dir, "alice.pem"), &alice.PublicKey)
	keys, err := mcossl.NewCallerKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	conn := &mcoConn{subs: map[connector.Destination]connector.Handler{}, replies: make(chan mcoPublished, 16)}
	l := logrus.New()
	l.SetOutput(io.Discard)
	if os.Getenv("MCO_TEST_LOG") != "" {
		l.SetOutput(os.Stderr)
	}
	au := &memAudit{}
	n, err := server.New(server.Options{
		Settings:  server.Settings{Identity: "node1.example.net", Collectives: []string{"mcollective"}, MaxTTL: time.Hour},
		Connector: conn, Verifier: mcossl.Verifier{Callers: keys}, Replay: replay.New(0),
		MCollective: &server.MCollective{Serializer: ser, ServerKey: srv},
		Facts:       facts.Static(map[string]any{"role": "web", "country": "mt"}, []string{"base"}), Log: logrus.NewEntry(l),
		Agents: []string{"rpcutil"},
		Authorizer: policyFunc(func(r actionpolicy.Request) actionpolicy.Decision {
			ok := r.CallerID == "cert=alice" && r.Action != "get_config_item"
			return actionpolicy.Decision{Allowed: ok, Reason: "test policy", Policy: "rpcutil.policy"}
		}),
		Auditor: au,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Shutdown(context.Background()) })
	return &mcoRig{conn: conn, ser: ser, alice: alice, serverPub: &srv.PublicKey, audit: au}
}

type mcoReq struct {
	agent, action string
	data          *rm.Hash
	filter        mcollective.Filter
	callerID      string
	signedAgent   string
	ttl           int64
	at            time.Time
	requestID     string
}

// build signs and encodes a request as mco does.
func (r *mcoRig) build(t *testing.T, q mcoReq) []byte {
	t.Helper()
	if q.callerID == "" {
		q.callerID = "cert=alice"
	}
	if q.ttl == 0 {
		q.ttl = 60
	}
	if q.at.IsZero() {
		q.at = time.Now()
	}
	if q.requestID == "" {
		b := make([]byte, 16)
		rand.Read(b)
		q.requestID = hex.EncodeToString(b)
	}
	var msg rm.Value = "ping"
	if q.agent != "discovery" {
		sa := q.signedAgent
		if sa == "" {
			sa = q.agent
		}
		data := q.data
		if data == nil {
			data = rm.Sym("process_results", true)
		}
		msg = mcollective.RPCMsg(&mcollective.RPC{Agent: sa, Action: q.action, Caller: q.callerID, Data: data})
	}
	body, err := mcollective.EncodeBody(r.ser, &mcollective.Body{Msg: msg, TTL: q.ttl, MsgTime: q.at.Unix()})
	if err != nil {
		t.Fatal(err)
	}
	hash, err := mcollective.Sign(r.alice, body)
	if err != nil {
		t.Fatal(err)
	}
	b, err := mcollective.EncodeRequest(r.ser, &mcollective.Request{Body: body, SenderID: "mco-client-alice", RequestID: q.requestID,
		Filter: q.filter, Collective: "mcollective", Agent: q.agent, CallerID: q.callerID, TTL: q.ttl, MsgTime: q.at.Unix(), Hash: hash})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const mcoReplyTo = "/queue/mcollective.reply.mco-client-alice_4242.1"

// send delivers b on agent's broadcast topic (or the directed queue when
// agent is "") and returns the verified reply body, or nil when none came.
func (r *mcoRig) send(t *testing.T, agent string, b []byte) *rm.Value {
	t.Helper()
	d := connector.Destination{Kind: connector.Broadcast, Collective: "mcollective", Agent: agent}
	if agent == "" {
		d = connector.Destination{Kind: connector.Directed, Collective: "mcollective", Identity: "node1.example.net"}
	}
	r.conn.mu.Lock()
	h := r.conn.subs[d]
	r.conn.mu.Unlock()
	if h == nil {
		t.Fatalf("node did not subscribe to %+v", d)
	}
	h(connector.Message{Data: b, ReplyTo: mcoReplyTo})
	select {
	case p := <-r.conn.replies:
		if p.to != mcoReplyTo {
			t.Fatalf("reply to %q", p.to)
		}
		rep, err := mcollective.DecodeReply(r.ser, p.data)
		if err != nil {
			t.Fatal(err)
		}
		if rep.SenderID != "node1.example.net" {
			t.Fatalf("sender %q", rep.SenderID)
		}
		if err := mcollective.Verify(r.serverPub, rep.Body, rep.Hash); err != nil {
			t.Fatalf("reply signature: %v", err)
		}
		v, err := r.ser.Unmarshal(rep.Body)
		if err != nil {
			t.Fatal(err)
		}
		return &v
	case <-time.After(300 * time.Millisecond):
		return nil
	}
}

func field(t *testing.T, v *rm.Value, key string) rm.Value {
	t.Helper()
	h, ok := (*v).(*rm.Hash)
	if !ok {
		t.Fatalf("reply %#v is not a hash", *v)
	}
	x, _ := h.Get(rm.Symbol(key))
	return x
}

func TestMCollectiveNode(t *testing.T) {
	for _, ser := range []mcollective.Serializer{mcollective.Marshal, mcollective.YAML} {
		t.Run(ser.Name(), func(t *testing.T) {
			r := newMCORig(t, ser)
			if got := r.send(t, "discovery", r.build(t, mcoReq{agent: "discovery"})); got == nil || *got != "pong" {
				t.Fatalf("discovery: %#v", got)
			}
			got := r.send(t, "", r.build(t, mcoReq{agent: "rpcutil", action: "ping", filter: mcollective.Filter{Agent: []string{"rpcutil"}}}))
			if got == nil || field(t, got, "statuscode") != int64(0) {
				t.Fatalf("rpcutil ping: %#v", got)
			}
			if pong, _ := field(t, got, "data").(*rm.Hash).Get(rm.Symbol("pong")); pong == nil {
				t.Fatalf("no pong in %#v", *got)
			}
			inv := r.send(t, "rpcutil", r.build(t, mcoReq{agent: "rpcutil", action: "inventory",
				filter: mcollective.Filter{Fact: []mcollective.FactFilter{{Fact: "role", Operator: "==", Value: "web"}},
					Agent: []string{"mcollective", "rpcutil"}, Identity: []string{"node1.example.net"}}}))
			if inv == nil {
				t.Fatal("inventory: no reply")
			}
			facts, _ := field(t, inv, "data").(*rm.Hash).Get(rm.Symbol("facts"))
			if role, _ := facts.(*rm.Hash).Get("role"); role != "web" {
				t.Fatalf("inventory facts %#v", facts)
			}
			denied := r.send(t, "rpcutil", r.build(t, mcoReq{agent: "rpcutil", action: "get_config_item", data: rm.Sym("item", "identity")}))
			if denied == nil || field(t, denied, "statuscode") != int64(1) {
				t.Fatalf("denied: %#v", denied)
			}
			if a := r.audit.all(); !strings.Contains(a, `"caller":"cert=alice"`) || !strings.Contains(a, `"decision":"deny"`) {
				t.Fatalf("audit:\n%s", a)
			}
		})
	}
}

// Requests the node must drop without a reply.
func TestMCollectiveNodeRefuses(t *testing.T) {
	r := newMCORig(t, mcollective.Marshal)
	// the cases below share one signed body within a second (a replay of
	// each other); the replay check uses another action
	first := mcoReq{agent: "rpcutil", action: "inventory"}
	for name, q := range map[string]mcoReq{
		"filtered out (fact)":     {agent: "rpcutil", action: "ping", filter: mcollective.Filter{Fact: []mcollective.FactFilter{{Fact: "role", Operator: "==", Value: "db"}}}},
		"filtered out (identity)": {agent: "rpcutil", action: "ping", filter: mcollective.Filter{Identity: []string{"node2"}}},
		"compound false": {agent: "rpcutil", action: "ping", filter: mcollective.Filter{Compound: [][]mcollective.Token{
			{{Kind: "statement", Value: "role=web"}, {Kind: "and", Value: "and"}, {Kind: "not", Value: "not"}, {Kind: "statement", Value: "country=mt"}}}}},
		"data plugin":          {agent: "rpcutil", action: "ping", filter: mcollective.Filter{Compound: [][]mcollective.Token{{{Kind: "fstatement", Value: rm.Sym("name", "puppet")}}}}},
		"unknown caller":       {agent: "rpcutil", action: "ping", callerID: "cert=bob"},
		"unanchored callerid":  {agent: "rpcutil", action: "ping", callerID: "xcert=alice"},
		"signed agent differs": {agent: "rpcutil", action: "ping", signedAgent: "service"},
		"too old":              {agent: "rpcutil", action: "ping", at: time.Now().Add(-2 * time.Minute)},
		"from the future":      {agent: "rpcutil", action: "ping", at: time.Now().Add(time.Hour)},
		"ttl over max":         {agent: "rpcutil", action: "ping", ttl: 86400},
	} {
		if got := r.send(t, "rpcutil", r.build(t, q)); got != nil {
			t.Errorf("%s: got a reply %#v", name, *got)
		}
	}
	// a replay with a new (unsigned) request id is still a replay
	b := r.build(t, first)
	if r.send(t, "rpcutil", b) == nil {
		t.Fatal("first copy: no reply")
	}
	v, _ := rm.Unmarshal(b)
	v.(*rm.Hash).Set(rm.Symbol("requestid"), "0123456789abcdef0123456789abcdef")
	again, _ := rm.Marshal(v)
	if got := r.send(t, "rpcutil", again); got != nil {
		t.Fatalf("replay with a new request id answered: %#v", *got)
	}
	// a changed signed body fails verification
	body, _ := v.(*rm.Hash).Get(rm.Symbol("body"))
	bb := bytes.Replace(body.([]byte), []byte("inventory"), []byte("inventorY"), 1) // same ttl and time: only the signature can tell
	v.(*rm.Hash).Set(rm.Symbol("body"), bb)
	tampered, _ := rm.Marshal(v)
	if got := r.send(t, "rpcutil", tampered); got != nil {
		t.Fatalf("tampered body answered: %#v", *got)
	}
}
