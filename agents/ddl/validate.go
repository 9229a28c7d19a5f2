package ddl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tuttifleet/tutti/connector/protocol"
)

// Error is a request the DDL refuses, with the reply status to send:
// protocol.MissingData (3) for an absent required input,
// protocol.InvalidData (4) for anything else, protocol.UnknownAction (2)
// for an action the DDL does not declare.
type Error struct {
	Code protocol.StatusCode
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func invalid(format string, args ...any) *Error {
	return &Error{Code: protocol.InvalidData, Msg: "Validation failed: " + fmt.Sprintf(format, args...)}
}

// Validate checks a request's data object against the action's inputs
// and returns the data with the defaults of absent optional inputs
// filled in (data itself when nothing was added). Inputs the DDL does
// not declare are passed through untouched (process_results and other
// protocol keys live there). The error is an *Error.
func (d *DDL) Validate(action string, data json.RawMessage) (json.RawMessage, error) {
	a, ok := d.byName[action]
	if !ok {
		return nil, &Error{Code: protocol.UnknownAction, Msg: fmt.Sprintf("Unknown action %s for agent %s", action, d.Metadata.Name)}
	}
	return a.Validate(data)
}

// Validate is DDL.Validate for one action.
func (a *Action) Validate(data json.RawMessage) (json.RawMessage, error) {
	if len(a.inputNames) == 0 {
		// nothing to check or add: only the kind of value matters (the
		// node decoded the payload, so data is valid JSON)
		if t := bytes.TrimSpace(data); len(t) > 0 && t[0] != '{' && string(t) != "null" {
			return nil, &Error{Code: protocol.InvalidData, Msg: "Could not process request: data is not a JSON object"}
		}
		return data, nil
	}
	fields, err := object(data)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, name := range a.inputNames {
		in := a.Input[name]
		raw, present := fields[name]
		if present && string(bytes.TrimSpace(raw)) == "null" {
			present = false
		}
		if !present {
			switch {
			case len(in.Default) > 0 && string(in.Default) != "null":
				missing = append(missing, name)
			case !in.Optional:
				return nil, &Error{Code: protocol.MissingData, Msg: fmt.Sprintf("Action %s needs a %s argument", a.Name, name)}
			}
			continue
		}
		if err := in.validate(raw); err != nil {
			return nil, invalid("%s: %v", name, err)
		}
	}
	if len(missing) == 0 {
		return data, nil
	}
	if fields == nil {
		fields = map[string]json.RawMessage{}
	}
	for _, name := range missing {
		fields[name] = a.Input[name].Default
	}
	out, err := json.Marshal(fields)
	if err != nil {
		return nil, invalid("cannot add defaults: %v", err)
	}
	return out, nil
}

// object decodes a request's data: a JSON object, or empty/null.
func object(data json.RawMessage) (map[string]json.RawMessage, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return nil, nil
	}
	if trimmed[0] != '{' {
		return nil, &Error{Code: protocol.InvalidData, Msg: "Could not process request: data is not a JSON object"}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &fields); err != nil {
		return nil, &Error{Code: protocol.InvalidData, Msg: "Could not process request: " + err.Error()}
	}
	return fields, nil
}

// validate checks one JSON value against the input's type and rules.
func (in *Input) validate(raw json.RawMessage) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return fmt.Errorf("is empty, want %s", in.Type)
	}
	switch in.Type {
	case "string", "list":
		var s string
		if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
			return fmt.Errorf("must be a string, got %s", kindOf(raw))
		}
		return in.validateString(s)
	case "integer":
		if raw[0] == '"' || raw[0] == '{' || raw[0] == '[' {
			return fmt.Errorf("must be an integer, got %s", kindOf(raw))
		}
		var f float64
		if err := json.Unmarshal(raw, &f); err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return fmt.Errorf("must be an integer, got %s", clip(string(raw)))
		}
	case "float", "number":
		var f float64
		if raw[0] == '"' || json.Unmarshal(raw, &f) != nil {
			return fmt.Errorf("must be a number, got %s", kindOf(raw))
		}
	case "boolean":
		var b bool
		if json.Unmarshal(raw, &b) != nil {
			return fmt.Errorf("must be a boolean, got %s", kindOf(raw))
		}
	case "hash":
		var m map[string]json.RawMessage
		if raw[0] != '{' || json.Unmarshal(raw, &m) != nil {
			return fmt.Errorf("must be an object, got %s", kindOf(raw))
		}
	case "array":
		var l []json.RawMessage
		if raw[0] != '[' || json.Unmarshal(raw, &l) != nil {
			return fmt.Errorf("must be an array, got %s", kindOf(raw))
		}
	}
	return nil
}

func (in *Input) validateString(s string) error {
	if in.MaxLength > 0 && utf8.RuneCountInString(s) > in.MaxLength {
		return fmt.Errorf("is %d characters long, more than the maximum of %d", utf8.RuneCountInString(s), in.MaxLength)
	}
	if in.Type == "list" {
		for _, v := range in.List {
			if v == s {
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %s", clip(s), strings.Join(in.List, ", "))
	}
	if in.check != nil {
		return in.check(s)
	}
	return nil
}

func kindOf(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// Convert turns a command-line value into the JSON value the input's
// type asks for: "3" is 3 for an integer, "true" is true for a boolean,
// a hash or an array is parsed as JSON, and a string stays a string
// whatever it looks like. The result is validated.
func (in *Input) Convert(s string) (json.RawMessage, error) {
	var v any
	switch in.Type {
	case "string", "list":
		v = s
	case "integer":
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", clip(s))
		}
		v = i
	case "float", "number":
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, fmt.Errorf("%q is not a number", clip(s))
		}
		v = f
	case "boolean":
		switch strings.ToLower(s) {
		case "true", "t", "yes", "y", "1":
			v = true
		case "false", "f", "no", "n", "0":
			v = false
		default:
			return nil, fmt.Errorf("%q is not a boolean (true/false)", clip(s))
		}
	case "hash", "array":
		if !json.Valid([]byte(s)) {
			return nil, fmt.Errorf("%q is not JSON (a %s is given as JSON)", clip(s), in.Type)
		}
		v = json.RawMessage(s)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if err := in.validate(b); err != nil {
		return nil, err
	}
	return b, nil
}
