package agents_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tuttifleet/tutti/agents"
	"github.com/tuttifleet/tutti/agents/ddl"
)

// The hello agent of docs/writing-agents.md. A real agent embeds its DDL
// with //go:embed hello.json and registers in init; the test builds it
// directly.
var helloDDL = ddl.MustParse([]byte(`{
  "metadata": {"name": "hello", "description": "Greets people", "author": "you@example.net",
               "license": "Apache-2.0", "version": "1.0.0", "url": "https://example.net/hello", "timeout": 5},
  "actions": [
    {"action": "greet", "description": "Greet someone", "display": "always",
     "input": {
       "name":  {"prompt": "Name", "description": "Who to greet", "type": "string",
                 "validation": "^[A-Za-z][A-Za-z -]*$", "maxlength": 64, "optional": false},
       "times": {"prompt": "Times", "description": "How many greetings", "type": "integer",
                 "optional": true, "default": 1}
     },
     "output": {
       "greeting": {"description": "The greeting", "display_as": "Greeting", "type": "string"}
     }}
  ]
}`))

type hello struct{ n agents.Node }

func newHello(n agents.Node) (agents.Agent, error) {
	h := &hello{n: n}
	return agents.NewFromDDL(helloDDL).Action("greet", h.greet), nil
}

func (h *hello) greet(_ context.Context, req *agents.Request) (any, error) {
	var in struct {
		Name  string `json:"name"`
		Times int    `json:"times"`
	}
	if err := json.Unmarshal(req.Data, &in); err != nil {
		return nil, agents.InvalidData("Could not process request: %v", err)
	}
	if in.Times > 3 {
		return nil, agents.Abort("%d greetings is too many", in.Times)
	}
	return map[string]string{"greeting": strings.TrimSpace(strings.Repeat("hello "+in.Name+" ", in.Times))}, nil
}

func Example() {
	a, err := newHello(nil)
	if err != nil {
		panic(err)
	}
	// what agents.Build does for an agent that has a DDL
	a, err = agents.WithDDL(a, helloDDL)
	if err != nil {
		panic(err)
	}
	for _, data := range []string{`{"name":"world"}`, `{"name":"world","times":2}`, `{"name":"rm -rf /"}`, `{}`, `{"name":"x","times":9}`} {
		rep := a.Run(context.Background(), "greet", &agents.Request{Agent: "hello", Action: "greet", Data: json.RawMessage(data)})
		fmt.Println(int(rep.StatusCode), rep.StatusMsg, rep.Data)
	}
	// Output:
	// 0 OK map[greeting:hello world]
	// 0 OK map[greeting:hello world hello world]
	// 4 Validation failed: name: "rm -rf /" does not match ^[A-Za-z][A-Za-z -]*$ <nil>
	// 3 Action greet needs a name argument <nil>
	// 1 9 greetings is too many <nil>
}
