package agents

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/tuttifleet/tutti/agents/ddl"
	"github.com/tuttifleet/tutti/connector/protocol"
)

var testDDL = ddl.MustParse([]byte(`{"metadata":{"name":"echo","timeout":3},"actions":[
 {"action":"say","input":{
   "text":{"type":"string","validation":"^[a-z ]+$","maxlength":20},
   "times":{"type":"integer","optional":true,"default":2}},
  "output":{"said":{"description":"what was said"}}},
 {"action":"quiet","input":{}}]}`))

func echoAgent() *Basic {
	return NewFromDDL(testDDL).
		Action("say", func(_ context.Context, req *Request) (any, error) {
			var in struct {
				Text  string `json:"text"`
				Times int    `json:"times"`
			}
			if err := json.Unmarshal(req.Data, &in); err != nil {
				return nil, err
			}
			return map[string]string{"said": strings.Repeat(in.Text, in.Times)}, nil
		}).
		Action("quiet", func(context.Context, *Request) (any, error) { return nil, nil })
}

func TestWithDDL(t *testing.T) {
	a, err := WithDDL(echoAgent(), testDDL)
	if err != nil {
		t.Fatal(err)
	}
	if a.Metadata().Timeout.Seconds() != 3 || a.Metadata().Name != "echo" {
		t.Fatalf("metadata %+v", a.Metadata())
	}
	v := a.(interface {
		ValidateInput(string, json.RawMessage) (json.RawMessage, protocol.StatusCode, string)
	})
	if _, code, msg := v.ValidateInput("say", json.RawMessage(`{"text":"hi"}`)); code != protocol.OK || msg != "" {
		t.Fatalf("valid input refused: %d %s", code, msg)
	}
	if _, code, msg := v.ValidateInput("say", json.RawMessage(`{"text":"rm -rf /"}`)); code != protocol.InvalidData || !strings.Contains(msg, "text") {
		t.Fatalf("invalid input: %d %s", code, msg)
	}
	if _, code, msg := v.ValidateInput("say", json.RawMessage(`{}`)); code != protocol.MissingData || msg != "Action say needs a text argument" {
		t.Fatalf("missing input: %d %s", code, msg)
	}
	// Run validates too and hands the action the defaults
	rep := a.Run(context.Background(), "say", &Request{Data: json.RawMessage(`{"text":"ab"}`)})
	if rep.StatusCode != protocol.OK || rep.Data.(map[string]string)["said"] != "abab" {
		t.Fatalf("run: %+v", rep)
	}
	rep = a.Run(context.Background(), "say", &Request{Data: json.RawMessage(`{"text":1}`)})
	if rep.StatusCode != protocol.InvalidData {
		t.Fatalf("run with invalid data: %+v", rep)
	}
}

func TestWithDDLMismatch(t *testing.T) {
	extra := echoAgent().Action("shout", func(context.Context, *Request) (any, error) { return nil, nil })
	if _, err := WithDDL(extra, testDDL); err == nil || !strings.Contains(err.Error(), "action shout is not in the DDL") {
		t.Fatalf("handler without DDL entry: %v", err)
	}
	short := NewFromDDL(testDDL).Action("say", func(context.Context, *Request) (any, error) { return nil, nil })
	if _, err := WithDDL(short, testDDL); err == nil || !strings.Contains(err.Error(), "declares action quiet but the agent has no handler") {
		t.Fatalf("DDL action without handler: %v", err)
	}
	other := NewBasic(Metadata{Name: "other"}).Action("say", nil).Action("quiet", nil)
	if _, err := WithDDL(other, testDDL); err == nil || !strings.Contains(err.Error(), "describes agent echo") {
		t.Fatalf("DDL of another agent: %v", err)
	}
}

func TestBuildWrapsDescribedAgents(t *testing.T) {
	Register("echo_test", func(Node) (Agent, error) {
		b := echoAgent()
		b.Meta.Name = "echo_test"
		return b, nil
	})
	_, err := Build("echo_test", nil)
	if err == nil || !strings.Contains(err.Error(), "describes agent echo") {
		t.Fatalf("Build should check the DDL: %v", err)
	}
	Register("echo", func(Node) (Agent, error) { return echoAgent(), nil })
	a, err := Build("echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := a.(Described); !ok {
		t.Fatalf("built agent %T is not wrapped", a)
	}
}
