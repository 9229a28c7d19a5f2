// Package ddl reads and applies agent DDLs (Data Definition Language):
// the JSON description of an agent's actions, their inputs and outputs,
// that nodes use to validate requests, clients use to check and type
// inputs before sending, and `tutti plugin doc` prints as help.
//
// The format is Choria's JSON DDL:
//
//	{
//	  "metadata": {"name": "service", "description": "…", "author": "…", "license": "…",
//	               "version": "1.0.0", "url": "…", "timeout": 60},
//	  "actions": [
//	    {"action": "status", "description": "…", "display": "always",
//	     "input":  {"service": {"prompt": "Service", "description": "…", "type": "string",
//	                            "validation": "^[a-z]+$", "maxlength": 64, "optional": false}},
//	     "output": {"status": {"description": "…", "display_as": "Status", "type": "string", "default": "unknown"}},
//	     "aggregate": [{"function": "summary", "args": ["status"]}]}
//	  ]
//	}
//
// Input types are string, integer, float, number, boolean, list (one of
// "list": [...]), hash (a JSON object) and array (a JSON array). A string
// input's validation is a regular expression or one of the named
// validators shellsafe, ipv4address, ipv6address and ipaddress.
//
// Every regular expression is compiled once, by Parse; validating a
// request costs one JSON decode of its data and the checks themselves.
package ddl

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strings"
	"time"
)

// DDL is a parsed, checked agent description. It is immutable after
// Parse and safe for concurrent use.
type DDL struct {
	Schema   string    `json:"$schema,omitempty"`
	Metadata Metadata  `json:"metadata"`
	Actions  []*Action `json:"actions"`

	byName map[string]*Action
}

// Metadata describes the agent.
type Metadata struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Author      string `json:"author"`
	License     string `json:"license"`
	Version     string `json:"version"`
	URL         string `json:"url"`
	Provider    string `json:"provider,omitempty"`
	// Timeout is in seconds (0: the node's default).
	Timeout int `json:"timeout"`
}

// Action describes one action.
type Action struct {
	Name        string             `json:"action"`
	Description string             `json:"description"`
	Display     string             `json:"display,omitempty"`
	Input       map[string]*Input  `json:"input"`
	Output      map[string]*Output `json:"output"`
	Aggregates  []Aggregate        `json:"aggregate,omitempty"`

	inputNames  []string
	outputOrder []string // declared order, from Parse
}

// Input describes one input of an action.
type Input struct {
	Prompt      string          `json:"prompt,omitempty"`
	Description string          `json:"description"`
	Type        string          `json:"type"`
	Validation  string          `json:"validation,omitempty"`
	MaxLength   int             `json:"maxlength,omitempty"`
	Optional    bool            `json:"optional"`
	Default     json.RawMessage `json:"default,omitempty"`
	// List holds the allowed values of a list input.
	List []string `json:"list,omitempty"`

	check func(string) error // the compiled validation of a string input
}

// Output describes one output of an action.
type Output struct {
	Description string          `json:"description"`
	DisplayAs   string          `json:"display_as"`
	Type        string          `json:"type,omitempty"`
	Default     json.RawMessage `json:"default,omitempty"`
}

// Aggregate is a summary the client computes over all replies' values of
// one output: {"function": "summary", "args": ["status"]}.
type Aggregate struct {
	Function string            `json:"function"`
	Args     []json.RawMessage `json:"args"`

	output string
}

// Output is the name of the output the aggregate reads.
func (a *Aggregate) Output() string { return a.output }

// Input types.
var inputTypes = map[string]bool{
	"string": true, "integer": true, "float": true, "number": true, "boolean": true,
	"list": true, "hash": true, "array": true,
}

// Output types (also "any"; empty means any).
var outputTypes = map[string]bool{
	"": true, "any": true, "string": true, "integer": true, "float": true, "number": true,
	"boolean": true, "list": true, "hash": true, "array": true,
}

var aggregateFuncs = map[string]bool{"summary": true, "average": true, "sum": true}

var (
	nameRe   = regexp.MustCompile(`^[a-z0-9_]+$`)
	actionRe = regexp.MustCompile(`^[a-zA-Z0-9_]+$`)
	inputRe  = regexp.MustCompile(`^[a-zA-Z0-9_.\-]+$`)
)

// MaxSize is the largest DDL document Parse accepts.
const MaxSize = 1 << 20

// Parse reads and checks a JSON DDL. Errors name the agent, action and
// field at fault.
func Parse(b []byte) (*DDL, error) {
	if len(b) > MaxSize {
		return nil, fmt.Errorf("ddl: %d bytes, more than the maximum of %d", len(b), MaxSize)
	}
	var d DDL
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("ddl: %w", err)
	}
	if err := d.check(); err != nil {
		return nil, err
	}
	if err := d.recordOutputOrder(b); err != nil {
		return nil, err
	}
	return &d, nil
}

// MustParse is Parse for DDLs embedded in the binary; it panics on error.
func MustParse(b []byte) *DDL {
	d, err := Parse(b)
	if err != nil {
		panic(err)
	}
	return d
}

func (d *DDL) check() error {
	m := &d.Metadata
	if !nameRe.MatchString(m.Name) {
		return fmt.Errorf("ddl: metadata.name %q must match %s", m.Name, nameRe)
	}
	prefix := "ddl " + m.Name
	if m.Timeout < 0 || m.Timeout > 86400 {
		return fmt.Errorf("%s: metadata.timeout %d must be between 0 and 86400 seconds", prefix, m.Timeout)
	}
	if len(d.Actions) == 0 {
		return fmt.Errorf("%s: actions: no actions defined", prefix)
	}
	d.byName = make(map[string]*Action, len(d.Actions))
	for i, a := range d.Actions {
		if a == nil {
			return fmt.Errorf("%s: actions[%d] is null", prefix, i)
		}
		if !actionRe.MatchString(a.Name) {
			return fmt.Errorf("%s: actions[%d].action %q must match %s", prefix, i, a.Name, actionRe)
		}
		if _, dup := d.byName[a.Name]; dup {
			return fmt.Errorf("%s: action %s is defined twice", prefix, a.Name)
		}
		if err := a.check(); err != nil {
			return fmt.Errorf("%s: action %s: %w", prefix, a.Name, err)
		}
		d.byName[a.Name] = a
	}
	return nil
}

func (a *Action) check() error {
	switch a.Display {
	case "", "ok", "failed", "always":
	default:
		return fmt.Errorf("display %q must be ok, failed or always", a.Display)
	}
	for name, in := range a.Input {
		if !inputRe.MatchString(name) {
			return fmt.Errorf("input %q: the name must match %s", name, inputRe)
		}
		if in == nil {
			return fmt.Errorf("input %s is null", name)
		}
		if err := in.compile(); err != nil {
			return fmt.Errorf("input %s: %w", name, err)
		}
		a.inputNames = append(a.inputNames, name)
	}
	sort.Strings(a.inputNames)
	for name, out := range a.Output {
		if out == nil {
			return fmt.Errorf("output %s is null", name)
		}
		if !outputTypes[out.Type] {
			return fmt.Errorf("output %s: type %q is not one of any, string, integer, float, number, boolean, list, hash, array", name, out.Type)
		}
		if len(out.Default) > 0 && !json.Valid(out.Default) {
			return fmt.Errorf("output %s: default is not valid JSON", name)
		}
	}
	for i := range a.Aggregates {
		ag := &a.Aggregates[i]
		if !aggregateFuncs[ag.Function] {
			return fmt.Errorf("aggregate[%d].function %q must be summary, average or sum", i, ag.Function)
		}
		if len(ag.Args) == 0 || json.Unmarshal(ag.Args[0], &ag.output) != nil || ag.output == "" {
			return fmt.Errorf("aggregate[%d].args[0] must name an output", i)
		}
		if _, ok := a.Output[ag.output]; !ok {
			return fmt.Errorf("aggregate[%d] (%s): %q is not an output of the action", i, ag.Function, ag.output)
		}
	}
	return nil
}

// compile checks the input's declaration and compiles its validation.
func (in *Input) compile() error {
	if !inputTypes[in.Type] {
		return fmt.Errorf("type %q is not one of string, integer, float, number, boolean, list, hash, array", in.Type)
	}
	if in.MaxLength < 0 {
		return fmt.Errorf("maxlength %d is negative", in.MaxLength)
	}
	if in.Type == "list" && len(in.List) == 0 {
		return errors.New(`type list needs the allowed values in "list"`)
	}
	if in.Validation != "" {
		if in.Type != "string" {
			return fmt.Errorf("validation is only for string inputs, this one is %s", in.Type)
		}
		check, err := validator(in.Validation)
		if err != nil {
			return err
		}
		in.check = check
	}
	if len(in.Default) > 0 && string(in.Default) != "null" {
		var v any
		if err := json.Unmarshal(in.Default, &v); err != nil {
			return fmt.Errorf("default is not valid JSON: %w", err)
		}
		if err := in.validate(in.Default); err != nil {
			return fmt.Errorf("default %s: %w", in.Default, err)
		}
	}
	return nil
}

// validator returns the check for a validation string.
func validator(v string) (func(string) error, error) {
	switch v {
	case "shellsafe":
		return func(s string) error {
			if i := strings.IndexAny(s, "`$;|&><\n\r\x00"); i >= 0 {
				return fmt.Errorf("%q contains the shell metacharacter %q", s, s[i])
			}
			return nil
		}, nil
	case "ipv4address":
		return func(s string) error {
			if ip := net.ParseIP(s); ip == nil || ip.To4() == nil || strings.Contains(s, ":") {
				return fmt.Errorf("%q is not an IPv4 address", s)
			}
			return nil
		}, nil
	case "ipv6address":
		return func(s string) error {
			if ip := net.ParseIP(s); ip == nil || !strings.Contains(s, ":") {
				return fmt.Errorf("%q is not an IPv6 address", s)
			}
			return nil
		}, nil
	case "ipaddress":
		return func(s string) error {
			if net.ParseIP(s) == nil {
				return fmt.Errorf("%q is not an IP address", s)
			}
			return nil
		}, nil
	}
	re, err := regexp.Compile(v)
	if err != nil {
		return nil, fmt.Errorf("validation %q is not a valid regular expression: %w", v, err)
	}
	return func(s string) error {
		if !re.MatchString(s) {
			return fmt.Errorf("%q does not match %s", s, v)
		}
		return nil
	}, nil
}

// Name is the agent's name.
func (d *DDL) Name() string { return d.Metadata.Name }

// Timeout is the metadata timeout (0 when unset).
func (d *DDL) Timeout() time.Duration { return time.Duration(d.Metadata.Timeout) * time.Second }

// Action returns the named action.
func (d *DDL) Action(name string) (*Action, bool) {
	a, ok := d.byName[name]
	return a, ok
}

// ActionNames returns the action names, sorted.
func (d *DDL) ActionNames() []string {
	out := make([]string, 0, len(d.Actions))
	for _, a := range d.Actions {
		out = append(out, a.Name)
	}
	sort.Strings(out)
	return out
}

// InputNames returns the action's input names, sorted.
func (a *Action) InputNames() []string { return a.inputNames }

// OutputNames returns the action's output names, sorted.
func (a *Action) OutputNames() []string {
	out := make([]string, 0, len(a.Output))
	for n := range a.Output {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
