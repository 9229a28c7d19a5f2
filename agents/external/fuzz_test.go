package external

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/tuttifleet/tutti/agents/ddl"
	"github.com/tuttifleet/tutti/connector/protocol"
)

// FuzzReply feeds arbitrary program output to the reply decoder: it
// never panics, the status is always one of 0–5, a failure always says
// why, and the data of a reply is always a JSON object.
func FuzzReply(f *testing.F) {
	b, err := os.ReadFile("testdata/tester.json")
	if err != nil {
		f.Fatal(err)
	}
	a := &Agent{ddl: ddl.MustParse(b)}
	a.opts.defaults()
	a.log = a.opts.Log
	for _, s := range []string{`{"statuscode":0,"statusmsg":"OK","data":{"greeting":"x"}}`, `{"greeting":"x"}`,
		`{"statuscode":9}`, `{"statuscode":"0"}`, `{"statuscode":1,"data":[1]}`, `not json`, ``, `{}`, `{"statuscode":0,"data":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, out []byte) {
		rep := a.reply("ok", out)
		if rep.StatusCode > protocol.UnknownError {
			t.Fatalf("status %d", rep.StatusCode)
		}
		if rep.StatusCode == protocol.UnknownError && rep.StatusMsg == "" {
			t.Fatal("failure without a reason")
		}
		if rep.Data != nil {
			b, err := json.Marshal(rep.Data)
			if err != nil || len(b) == 0 || b[0] != '{' {
				t.Fatalf("data %s %v", b, err)
			}
		}
	})
}
