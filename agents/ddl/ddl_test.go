package ddl

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/tuttifleet/tutti/connector/protocol"
)

func example(t testing.TB) *DDL {
	t.Helper()
	b, err := os.ReadFile("testdata/example.json")
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestParse(t *testing.T) {
	d := example(t)
	if d.Name() != "example" || d.Timeout().Seconds() != 5 {
		t.Fatalf("metadata %+v", d.Metadata)
	}
	a, ok := d.Action("run")
	if !ok || len(a.InputNames()) != 11 || a.InputNames()[0] != "cmd" {
		t.Fatalf("action run: %v %v", ok, a.InputNames())
	}
	if got := d.ActionNames(); len(got) != 1 || got[0] != "run" {
		t.Fatalf("actions %v", got)
	}
}

func TestParseErrors(t *testing.T) {
	base := func(actions string) string {
		return `{"metadata":{"name":"x","timeout":1},"actions":[` + actions + `]}`
	}
	for _, tc := range []struct{ name, doc, want string }{
		{"not json", `{`, "ddl: unexpected end"},
		{"bad name", `{"metadata":{"name":"X-1"},"actions":[{"action":"a"}]}`, `metadata.name "X-1"`},
		{"no actions", `{"metadata":{"name":"x"},"actions":[]}`, "no actions defined"},
		{"negative timeout", `{"metadata":{"name":"x","timeout":-1},"actions":[{"action":"a"}]}`, "metadata.timeout -1"},
		{"null action", base(`null`), "actions[0] is null"},
		{"bad action name", base(`{"action":"a b"}`), `actions[0].action "a b"`},
		{"duplicate action", base(`{"action":"a"},{"action":"a"}`), "action a is defined twice"},
		{"bad display", base(`{"action":"a","display":"sometimes"}`), `action a: display "sometimes"`},
		{"bad type", base(`{"action":"a","input":{"i":{"type":"strnig"}}}`), `action a: input i: type "strnig"`},
		{"bad regex", base(`{"action":"a","input":{"i":{"type":"string","validation":"(["}}}`), "input i: validation \"([\" is not a valid regular expression"},
		{"validation on integer", base(`{"action":"a","input":{"i":{"type":"integer","validation":"^1$"}}}`), "validation is only for string inputs"},
		{"list without values", base(`{"action":"a","input":{"i":{"type":"list"}}}`), `type list needs the allowed values`},
		{"default of wrong type", base(`{"action":"a","input":{"i":{"type":"integer","default":"x"}}}`), `input i: default "x": must be an integer`},
		{"default failing validation", base(`{"action":"a","input":{"i":{"type":"string","validation":"^a$","default":"b"}}}`), `default "b": "b" does not match ^a$`},
		{"negative maxlength", base(`{"action":"a","input":{"i":{"type":"string","maxlength":-2}}}`), "maxlength -2 is negative"},
		{"bad input name", base(`{"action":"a","input":{"i j":{"type":"string"}}}`), `input "i j": the name`},
		{"bad output type", base(`{"action":"a","output":{"o":{"type":"blob"}}}`), `output o: type "blob"`},
		{"bad aggregate", base(`{"action":"a","output":{"o":{}},"aggregate":[{"function":"median","args":["o"]}]}`), `aggregate[0].function "median"`},
		{"aggregate of unknown output", base(`{"action":"a","output":{"o":{}},"aggregate":[{"function":"sum","args":["p"]}]}`), `"p" is not an output`},
		{"aggregate without args", base(`{"action":"a","output":{"o":{}},"aggregate":[{"function":"sum"}]}`), `args[0] must name an output`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := Parse(make([]byte, MaxSize+1)); err == nil {
		t.Fatal("oversize DDL accepted")
	}
}

func TestValidate(t *testing.T) {
	d := example(t)
	for _, tc := range []struct {
		name, data string
		code       protocol.StatusCode
		want       string // substring of the message, or of the output data when OK
	}{
		{"minimal gets defaults", `{"name":"abc"}`, protocol.OK, `"count":3`},
		{"default list value", `{"name":"abc"}`, protocol.OK, `"mode":"slow"`},
		{"null is absent", `{"name":"abc","count":null}`, protocol.OK, `"count":3`},
		{"extra keys pass", `{"name":"abc","process_results":true}`, protocol.OK, `"process_results":true`},
		{"all typed", `{"name":"abc","count":7,"ratio":0.5,"force":true,"mode":"fast","opts":{"a":1},"items":[1],"cmd":"ls -l","ip4":"10.0.0.1","ip6":"::1","ip":"10.1.1.1"}`, protocol.OK, `"count":7`},
		{"missing required", `{}`, protocol.MissingData, "Action run needs a name argument"},
		{"empty data", ``, protocol.MissingData, "needs a name argument"},
		{"not an object", `[1]`, protocol.InvalidData, "Could not process request: data is not a JSON object"},
		{"broken json", `{"name":`, protocol.InvalidData, "Could not process request"},
		{"regex mismatch", `{"name":"ABC"}`, protocol.InvalidData, `Validation failed: name: "ABC" does not match ^[a-z]+$`},
		{"too long", `{"name":"abcdefghi"}`, protocol.InvalidData, "more than the maximum of 8"},
		{"string as integer", `{"name":"a","count":"3"}`, protocol.InvalidData, "count: must be an integer, got a string"},
		{"fraction as integer", `{"name":"a","count":1.5}`, protocol.InvalidData, "count: must be an integer"},
		{"string as float", `{"name":"a","ratio":"x"}`, protocol.InvalidData, "ratio: must be a number"},
		{"number as boolean", `{"name":"a","force":1}`, protocol.InvalidData, "force: must be a boolean"},
		{"not in list", `{"name":"a","mode":"medium"}`, protocol.InvalidData, `"medium" is not one of fast, slow`},
		{"array as hash", `{"name":"a","opts":[]}`, protocol.InvalidData, "opts: must be an object"},
		{"hash as array", `{"name":"a","items":{}}`, protocol.InvalidData, "items: must be an array"},
		{"integer as string", `{"name":1}`, protocol.InvalidData, "name: must be a string, got a number"},
		{"shell metacharacter", `{"name":"a","cmd":"ls; rm -rf /"}`, protocol.InvalidData, "shell metacharacter"},
		{"v6 as v4", `{"name":"a","ip4":"::1"}`, protocol.InvalidData, "not an IPv4 address"},
		{"v4 as v6", `{"name":"a","ip6":"10.0.0.1"}`, protocol.InvalidData, "not an IPv6 address"},
		{"not an ip", `{"name":"a","ip":"host"}`, protocol.InvalidData, "not an IP address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := d.Validate("run", json.RawMessage(tc.data))
			if tc.code == protocol.OK {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if !strings.Contains(string(out), tc.want) {
					t.Fatalf("output %s lacks %s", out, tc.want)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != tc.code || !strings.Contains(e.Msg, tc.want) {
				t.Fatalf("got %#v, want status %d with %q", err, tc.code, tc.want)
			}
		})
	}
	_, err := d.Validate("nope", nil)
	var e *Error
	if !errors.As(err, &e) || e.Code != protocol.UnknownAction || e.Msg != "Unknown action nope for agent example" {
		t.Fatalf("unknown action: %v", err)
	}
	// nothing to add: the very bytes come back
	in := json.RawMessage(`{"name":"a","count":1,"mode":"fast"}`)
	if out, err := d.Validate("run", in); err != nil || &out[0] != &in[0] {
		t.Fatalf("data without defaults to add should be returned as is: %s %v", out, err)
	}
}

func TestConvert(t *testing.T) {
	a, _ := example(t).Action("run")
	for _, tc := range []struct{ input, value, want, err string }{
		{"count", "42", "42", ""},
		{"count", "4.5", "", "not an integer"},
		{"ratio", "0.25", "0.25", ""},
		{"ratio", "NaN", "", "not a number"},
		{"force", "yes", "true", ""},
		{"force", "0", "false", ""},
		{"force", "maybe", "", "not a boolean"},
		{"name", "123", "", `does not match`},
		{"name", "abc", `"abc"`, ""},
		{"mode", "fast", `"fast"`, ""},
		{"opts", `{"a":1}`, `{"a":1}`, ""},
		{"opts", `{a`, "", "not JSON"},
		{"items", `{"a":1}`, "", "must be an array"},
	} {
		got, err := a.Input[tc.input].Convert(tc.value)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s=%s: got %s %v, want error %q", tc.input, tc.value, got, err, tc.err)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("%s=%s: got %s %v, want %s", tc.input, tc.value, got, err, tc.want)
		}
	}
}

func TestAggregate(t *testing.T) {
	a, _ := example(t).Action("run")
	res := a.Aggregate([]json.RawMessage{
		json.RawMessage(`{"status":"running","load":1}`),
		json.RawMessage(`{"status":"running","load":2}`),
		json.RawMessage(`{"status":"stopped","load":"high"}`),
		json.RawMessage(`{"load":6}`),
		json.RawMessage(`not json`),
	})
	if len(res) != 3 {
		t.Fatalf("results %+v", res)
	}
	if got := res[0].String(); got != "Status: running=2 stopped=1" {
		t.Errorf("summary: %q", got)
	}
	if res[1].Value != 3 || res[1].N != 3 || res[1].String() != "Load: average 3 (3 replies)" {
		t.Errorf("average: %+v %q", res[1], res[1].String())
	}
	if res[2].Value != 9 || res[2].String() != "Load: sum 9 (3 replies)" {
		t.Errorf("sum: %+v", res[2])
	}
}

func BenchmarkValidate(b *testing.B) {
	d := example(b)
	data := json.RawMessage(`{"name":"abc","count":7,"mode":"fast","cmd":"ls -l","ip":"10.1.1.1"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Validate("run", data); err != nil {
			b.Fatal(err)
		}
	}
}

func TestValidateNoInputs(t *testing.T) {
	d, err := Parse([]byte(`{"metadata":{"name":"x"},"actions":[{"action":"a","input":{}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, ok := range []string{``, `null`, `{}`, `{"process_results":false}`} {
		if _, err := d.Validate("a", json.RawMessage(ok)); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{`[]`, `"x"`, `1`} {
		if _, err := d.Validate("a", json.RawMessage(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
