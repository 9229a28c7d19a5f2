package ddl

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestDisplayOrderIsDeclared(t *testing.T) {
	d, err := Parse([]byte(`{"metadata":{"name":"x","description":"x","author":"a","license":"l","version":"1","url":"u","timeout":1},
		"actions":[{"action":"a","description":"d","input":{},"output":{"zeta":{"description":"z","display_as":"Z"},"alpha":{"description":"a","display_as":"A"},"mid":{"description":"m","display_as":"M"}}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := d.Action("a")
	if got := a.DisplayOrder(); !slices.Equal(got, []string{"zeta", "alpha", "mid"}) {
		t.Fatalf("order %v", got)
	}
}

// A reply whose output is null (rpcutil#get_fact of a fact the node does
// not have) counts as missing, not as an empty value ("Value: =3").
func TestSummaryOfMissingValues(t *testing.T) {
	a := &Action{Output: map[string]*Output{"value": {DisplayAs: "Value"}},
		Aggregates: []Aggregate{{Function: "summary", output: "value"}}}
	res := a.Aggregate([]json.RawMessage{[]byte(`{"value":null}`), []byte(`{"value":null}`), []byte(`{"value":""}`), []byte(`{"value":"x"}`)})
	if got := res[0].String(); got != "Value: "+MissingValue+"=2 \"\"=1 x=1" {
		t.Fatalf("%s", got)
	}
}
