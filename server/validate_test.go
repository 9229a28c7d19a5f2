package server_test

import (
	"context"
	"encoding/json"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/agents"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security/replay"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server"
	"github.com/tuttifleet/tutti/server/facts"
)

// countingValidator fills in a default and counts how often it
// validates and which entry point runs the action.
type countingValidator struct {
	validations, runs, runsValidated atomic.Int32
	seen                             atomic.Value // json.RawMessage the action saw
}

func (a *countingValidator) Metadata() agents.Metadata {
	return agents.Metadata{Name: "counted", Timeout: time.Second}
}
func (a *countingValidator) Actions() []string { return []string{"go"} }

func (a *countingValidator) ValidateInput(_ string, data json.RawMessage) (json.RawMessage, protocol.StatusCode, string) {
	a.validations.Add(1)
	if string(data) == `{"bad":true}` {
		return nil, protocol.InvalidData, "bad is not allowed"
	}
	return json.RawMessage(`{"n":1,"default":"filled"}`), protocol.OK, ""
}

func (a *countingValidator) RunValidated(_ context.Context, _ string, req *agents.Request) agents.Reply {
	a.runsValidated.Add(1)
	a.seen.Store(req.Data)
	return agents.Reply{StatusCode: protocol.OK, StatusMsg: "OK", Data: map[string]string{"ok": "yes"}}
}

func (a *countingValidator) Run(context.Context, string, *agents.Request) agents.Reply {
	a.runs.Add(1)
	return agents.Reply{StatusCode: protocol.UnknownError, StatusMsg: "Run must not be called for a Validator"}
}

// TestNodeValidatesOnce pins that the node validates a request's data
// once, before authorization, and hands the action the data validation
// returned (defaults filled in) without validating it again.
func TestNodeValidatesOnce(t *testing.T) {
	r := newRig(t, x509.KeyEd25519, nil, nil)
	ag := &countingValidator{}
	l := logrus.New()
	l.SetOutput(io.Discard)
	n, err := server.New(server.Options{
		Settings:  server.Settings{Identity: "node1.example.net", Collectives: []string{"mcollective"}, MaxTTL: time.Hour},
		Connector: nopConn{}, Signer: r.nodeP, Verifier: r.nodeP, Replay: replay.New(0),
		Facts: facts.Static(nil, nil), Log: logrus.NewEntry(l), Agents: []string{}, Extra: map[string]agents.Agent{"counted": ag},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.node = n
	send := func(data string) *protocol.RPCReply {
		t.Helper()
		payload, err := protocol.EncodeRPCRequest("counted", "go", json.RawMessage(data))
		if err != nil {
			t.Fatal(err)
		}
		out := n.Process(context.Background(), agentSubject("counted"), r.rawRequest(t, "counted", payload))
		if out.Reply == nil {
			t.Fatalf("no reply: %v", out.Dropped)
		}
		tr, _ := protocol.DecodeTransport(out.Reply, 0)
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
	if body := send(`{"n":1}`); body.StatusCode != protocol.OK {
		t.Fatalf("valid request: %d %s", body.StatusCode, body.StatusMsg)
	}
	if v, rv, run := ag.validations.Load(), ag.runsValidated.Load(), ag.runs.Load(); v != 1 || rv != 1 || run != 0 {
		t.Fatalf("validations %d, RunValidated %d, Run %d; want 1, 1, 0", v, rv, run)
	}
	if got := string(ag.seen.Load().(json.RawMessage)); got != `{"n":1,"default":"filled"}` {
		t.Fatalf("the action saw %s, not the validated data", got)
	}
	if body := send(`{"bad":true}`); body.StatusCode != protocol.InvalidData || body.StatusMsg != "bad is not allowed" {
		t.Fatalf("invalid request: %d %s", body.StatusCode, body.StatusMsg)
	}
	if v, rv := ag.validations.Load(), ag.runsValidated.Load(); v != 2 || rv != 1 {
		t.Fatalf("after a refusal: validations %d, RunValidated %d; want 2, 1", v, rv)
	}
}
