package ddl

import (
	"encoding/json"
	"errors"
	"os"
	"testing"
)

func FuzzParse(f *testing.F) {
	b, err := os.ReadFile("testdata/example.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"metadata":{"name":"x"},"actions":[{"action":"a","input":{"i":{"type":"list","list":["a"],"default":"a"}}}]}`))
	f.Add([]byte(`{"metadata":{"name":"x"},"actions":[{"action":"a","input":{"i":{"type":"string","validation":"(a+)+$"}}}]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		d, err := Parse(doc)
		if err != nil {
			return
		}
		for _, name := range d.ActionNames() {
			a, ok := d.Action(name)
			if !ok {
				t.Fatalf("action %s listed but not found", name)
			}
			// every input's declared default must pass its own validation
			for _, in := range a.InputNames() {
				if def := a.Input[in].Default; len(def) > 0 && string(def) != "null" {
					if err := a.Input[in].validate(def); err != nil {
						t.Fatalf("default of %s accepted by Parse but invalid: %v", in, err)
					}
				}
			}
			_, _ = d.Validate(name, json.RawMessage(`{}`))
			a.Aggregate([]json.RawMessage{json.RawMessage(`{}`)})
		}
	})
}

func FuzzValidate(f *testing.F) {
	d := example(f)
	for _, s := range []string{`{"name":"abc"}`, `{"name":"a","count":1e308}`, `{"opts":{"a":[1,{}]}}`, `[]`, `"x"`, `{"name":"é"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := d.Validate("run", data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code == 0 || e.Msg == "" {
				t.Fatalf("refusal without a status and reason: %#v", err)
			}
			return
		}
		// accepted: the result is an object that validates again, with
		// the required input and every default present
		var m map[string]json.RawMessage
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("accepted data %q became %q: %v", data, out, err)
		}
		if _, ok := m["name"]; !ok {
			t.Fatalf("accepted %q without the required input", data)
		}
		if _, err := d.Validate("run", out); err != nil {
			t.Fatalf("output %q does not validate: %v", out, err)
		}
	})
}
