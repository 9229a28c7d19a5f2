package ddl

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// DisplayOrder returns the action's output names in the order the DDL
// declares them, the order people read replies in (Choria prints outputs
// that way). A JSON object has no order for encoding/json, so Parse
// records it from the document itself.
func (a *Action) DisplayOrder() []string {
	if len(a.outputOrder) == len(a.Output) {
		return a.outputOrder
	}
	return a.OutputNames() // an Action built in code: sorted
}

// recordOutputOrder reads the declared order of every action's outputs
// from the DDL document b.
func (d *DDL) recordOutputOrder(b []byte) error {
	var raw struct {
		Actions []struct {
			Output keyOrder `json:"output"`
		} `json:"actions"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if len(raw.Actions) != len(d.Actions) {
		return fmt.Errorf("ddl: %d actions, then %d", len(d.Actions), len(raw.Actions))
	}
	for i, a := range d.Actions {
		if a != nil {
			a.outputOrder = raw.Actions[i].Output
		}
	}
	return nil
}

// keyOrder is the keys of a JSON object in document order.
type keyOrder []string

func (k *keyOrder) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		return nil // "output": null
	}
	if tok != json.Delim('{') {
		return fmt.Errorf("output: not an object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name, _ := tok.(string)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return err
		}
		if !seen[name] { // a repeated key: encoding/json keeps the last value, one entry
			seen[name] = true
			*k = append(*k, name)
		}
	}
	return nil
}
