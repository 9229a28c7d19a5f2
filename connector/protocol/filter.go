package protocol

import (
	"encoding/json"
	"fmt"
	"slices"
)

// MarshalJSON writes every list, empty ones as [] (never null): Choria's
// schema requires fact, cf_class, identity and compound.
func (f Filter) MarshalJSON() ([]byte, error) {
	type plain Filter
	c := plain(f)
	if c.Fact == nil {
		c.Fact = []FactFilter{}
	}
	if c.CFClass == nil {
		c.CFClass = []string{}
	}
	if c.Agent == nil {
		c.Agent = []string{}
	}
	if c.Identity == nil {
		c.Identity = []string{}
	}
	if c.Compound == nil {
		c.Compound = [][]CompoundEntry{}
	}
	return json.Marshal(&c)
}

// UnmarshalJSON requires the keys the v1 schema requires (fact, cf_class,
// identity, compound); agent is optional.
func (f *Filter) UnmarshalJSON(data []byte) error {
	var w struct {
		Fact     *[]FactFilter      `json:"fact"`
		CFClass  *[]string          `json:"cf_class"`
		Agent    []string           `json:"agent"`
		Identity *[]string          `json:"identity"`
		Compound *[][]CompoundEntry `json:"compound"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	switch {
	case w.Fact == nil:
		return fmt.Errorf("filter has no fact list")
	case w.CFClass == nil:
		return fmt.Errorf("filter has no cf_class list")
	case w.Identity == nil:
		return fmt.Errorf("filter has no identity list")
	case w.Compound == nil:
		return fmt.Errorf("filter has no compound list")
	}
	*f = Filter{Fact: *w.Fact, CFClass: *w.CFClass, Agent: w.Agent, Identity: *w.Identity, Compound: *w.Compound}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(data, &keys); err != nil {
		return err
	}
	for k := range keys {
		if !slices.Contains(filterFields, k) {
			f.Unknown = append(f.Unknown, k)
		}
	}
	slices.Sort(f.Unknown)
	return nil
}

// filterFields are the filter's selectors; any other key of a filter
// object is recorded in Filter.Unknown.
var filterFields = []string{"fact", "cf_class", "agent", "identity", "compound"}

// validate checks the per-entry constraints of the v1 schema.
func (f *Filter) validate() error {
	for i, ff := range f.Fact {
		if ff.Fact == "" {
			return fmt.Errorf("fact filter %d has no fact name", i)
		}
		if !ValidOperator(ff.Operator) {
			return fmt.Errorf("fact filter %d has unknown operator %q", i, ff.Operator)
		}
		if ff.Value == "" {
			return fmt.Errorf("fact filter %d has no value", i)
		}
	}
	return nil
}

// MarshalJSON writes {"expr": ...}, or the preserved raw entry.
func (c CompoundEntry) MarshalJSON() ([]byte, error) {
	if c.Raw != nil {
		return json.Marshal(c.Raw)
	}
	return json.Marshal(struct {
		Expr string `json:"expr"`
	}{c.Expr})
}

// UnmarshalJSON reads {"expr": "..."} or keeps any other object in Raw.
func (c *CompoundEntry) UnmarshalJSON(data []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("compound entry: %w", err)
	}
	if raw, ok := m["expr"]; ok && len(m) == 1 {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("compound expr must be a string: %w", err)
		}
		*c = CompoundEntry{Expr: s}
		return nil
	}
	*c = CompoundEntry{Raw: m}
	return nil
}

// NewFilter returns an empty filter, optionally for one agent.
func NewFilter(agent string) Filter {
	f := Filter{}
	if agent != "" {
		f.Agent = []string{agent}
	}
	return f
}
