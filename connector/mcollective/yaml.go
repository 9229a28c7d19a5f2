package mcollective

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	rm "github.com/tuttifleet/tutti/connector/mcollective/rubymarshal"
)

// yamlSerializer is MCollective's YAML serializer (plugin.ssl_serializer
// = yaml) as Psych writes it: Symbol keys and values are plain scalars
// starting with ':', the signed body is a literal block. Decoding goes
// through yaml.v3's node tree and accepts only the core tags and
// Psych's !binary; every Ruby object tag (!ruby/object, !ruby/hash…) is
// refused, nothing is instantiated, aliases may only name scalars, and
// nesting and item counts are bounded as for Marshal.
type yamlSerializer struct{}

func (yamlSerializer) Name() string { return "yaml" }

func (yamlSerializer) Unmarshal(b []byte) (rm.Value, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%w: yaml: %w", ErrDecode, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, fmt.Errorf("%w: yaml: want one document", ErrDecode)
	}
	y := yamlReader{}
	return y.node(doc.Content[0], 0)
}

type yamlReader struct{ items int }

const (
	yamlMaxDepth = 32
	yamlMaxItems = 100_000
)

func (y *yamlReader) node(n *yaml.Node, depth int) (rm.Value, error) {
	if depth > yamlMaxDepth {
		return nil, fmt.Errorf("%w: yaml: nested deeper than %d (line %d)", ErrDecode, yamlMaxDepth, n.Line)
	}
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil || n.Alias.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("%w: yaml: line %d: aliases may only name scalars", ErrDecode, n.Line)
		}
		return y.scalar(n.Alias)
	case yaml.ScalarNode:
		return y.scalar(n)
	case yaml.SequenceNode:
		if n.Tag != "!!seq" {
			return nil, fmt.Errorf("%w: yaml: line %d: tag %q is not accepted", ErrDecode, n.Line, n.Tag)
		}
		if y.items += len(n.Content); y.items > yamlMaxItems {
			return nil, fmt.Errorf("%w: yaml: more than %d items", ErrDecode, yamlMaxItems)
		}
		a := make([]rm.Value, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := y.node(c, depth+1)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		return a, nil
	case yaml.MappingNode:
		return y.mapping(n, depth)
	}
	return nil, fmt.Errorf("%w: yaml: line %d: unexpected node", ErrDecode, n.Line)
}

func (y *yamlReader) mapping(n *yaml.Node, depth int) (rm.Value, error) {
	if n.Tag != "!!map" {
		return nil, fmt.Errorf("%w: yaml: line %d: tag %q is not accepted", ErrDecode, n.Line, n.Tag)
	}
	if y.items += len(n.Content) / 2; y.items > yamlMaxItems {
		return nil, fmt.Errorf("%w: yaml: more than %d items", ErrDecode, yamlMaxItems)
	}
	h := &rm.Hash{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("%w: yaml: line %d: a hash key must be a scalar", ErrDecode, n.Content[i].Line)
		}
		k, err := y.scalar(n.Content[i])
		if err != nil {
			return nil, err
		}
		if _, dup := h.Get(k); dup {
			return nil, fmt.Errorf("%w: yaml: line %d: duplicate key %v", ErrDecode, n.Content[i].Line, k)
		}
		v, err := y.node(n.Content[i+1], depth+1)
		if err != nil {
			return nil, err
		}
		h.Keys = append(h.Keys, k)
		h.Values = append(h.Values, v)
	}
	return h, nil
}

func (y *yamlReader) scalar(n *yaml.Node) (rm.Value, error) {
	switch n.Tag {
	case "!!str":
		if n.Style == 0 && len(n.Value) > 1 && n.Value[0] == ':' {
			return rm.Symbol(n.Value[1:]), nil // Psych: a plain :name is a Symbol
		}
		return n.Value, nil
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, fmt.Errorf("%w: yaml: line %d: %w", ErrDecode, n.Line, err)
		}
		return b, nil
	case "!!int":
		var i int64
		if err := n.Decode(&i); err != nil {
			return nil, fmt.Errorf("%w: yaml: line %d: %w", ErrDecode, n.Line, err)
		}
		return i, nil
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return nil, fmt.Errorf("%w: yaml: line %d: %w", ErrDecode, n.Line, err)
		}
		return f, nil
	case "!binary", "!!binary":
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(n.Value), ""))
		if err != nil {
			return nil, fmt.Errorf("%w: yaml: line %d: !binary: %w", ErrDecode, n.Line, err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("%w: yaml: line %d: tag %q is not accepted", ErrDecode, n.Line, n.Tag)
}

// Marshal writes v as Psych's YAML.dump would, closely enough for Psych
// to load it to the same value. A multi-line String ending in one
// newline (a signed body) is written as a literal block, so the loaded
// text is byte for byte the signed one.
func (yamlSerializer) Marshal(v rm.Value) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("---")
	if err := writeYAML(&b, v, 0); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// writeYAML writes v after a key or "---" (a space or a new line follows
// as v needs) at indentation ind.
func writeYAML(b *bytes.Buffer, v rm.Value, ind int) error {
	if ind/2 > yamlMaxDepth {
		return fmt.Errorf("%w: yaml: nested deeper than %d", ErrDecode, yamlMaxDepth)
	}
	pad := strings.Repeat(" ", ind)
	switch x := v.(type) {
	case *rm.Hash:
		if x.Len() == 0 {
			b.WriteString(" {}")
			return nil
		}
		for i, k := range x.Keys {
			b.WriteByte('\n')
			b.WriteString(pad)
			if err := yamlScalar(b, k, ind); err != nil {
				return err
			}
			b.WriteByte(':')
			if err := writeYAML(b, x.Values[i], ind+2); err != nil {
				return err
			}
		}
		return nil
	case map[string]rm.Value:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		h := &rm.Hash{}
		for _, k := range keys {
			h.Set(rm.Symbol(k), x[k])
		}
		return writeYAML(b, h, ind)
	case []rm.Value:
		if len(x) == 0 {
			b.WriteString(" []")
			return nil
		}
		for _, el := range x {
			b.WriteByte('\n')
			b.WriteString(pad)
			b.WriteByte('-')
			if err := writeYAML(b, el, ind+2); err != nil {
				return err
			}
		}
		return nil
	case []string:
		a := make([]rm.Value, len(x))
		for i := range x {
			a[i] = x[i]
		}
		return writeYAML(b, a, ind)
	}
	b.WriteByte(' ')
	return yamlScalar(b, v, ind)
}

var plainSafe = regexp.MustCompile(`^[A-Za-z_/][A-Za-z0-9_./=@\-]*$`)

// yamlScalar writes a scalar: plain when Psych would read it back as
// the same String, else double-quoted; a signed body as a literal block.
func yamlScalar(b *bytes.Buffer, v rm.Value, ind int) error {
	switch x := v.(type) {
	case nil:
		b.WriteString("~")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case int:
		b.WriteString(strconv.Itoa(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		switch {
		case math.IsNaN(x):
			b.WriteString(".nan")
		case math.IsInf(x, 1):
			b.WriteString(".inf")
		case math.IsInf(x, -1):
			b.WriteString("-.inf")
		default:
			s := strconv.FormatFloat(x, 'g', -1, 64)
			if !strings.ContainsAny(s, ".eEn") {
				s += ".0"
			}
			b.WriteString(s)
		}
	case rm.Symbol:
		if !plainSafe.MatchString(string(x)) {
			return fmt.Errorf("%w: yaml: symbol %q cannot be written plainly", ErrDecode, x)
		}
		b.WriteString(":" + string(x))
	case rm.ASCII:
		return yamlScalar(b, string(x), ind)
	case []byte:
		if utf8.Valid(x) {
			return yamlScalar(b, string(x), ind)
		}
		b.WriteString("!binary |-\n")
		enc := base64.StdEncoding.EncodeToString(x)
		for len(enc) > 0 {
			n := min(60, len(enc))
			b.WriteString(strings.Repeat(" ", ind) + enc[:n] + "\n")
			enc = enc[n:]
		}
		b.Truncate(b.Len() - 1)
	case string:
		yamlString(b, x, ind)
	default:
		return fmt.Errorf("%w: yaml: cannot encode a %T", ErrDecode, v)
	}
	return nil
}

var notPlain = map[string]bool{"true": true, "false": true, "yes": true, "no": true, "on": true, "off": true,
	"null": true, "y": true, "n": true}

func yamlString(b *bytes.Buffer, s string, ind int) {
	if ind > 0 && blockable(s) {
		b.WriteString("|")
		pad := strings.Repeat(" ", ind)
		for _, line := range strings.SplitAfter(s[:len(s)-1], "\n") {
			b.WriteByte('\n')
			if line != "" && line != "\n" {
				b.WriteString(pad)
			}
			b.WriteString(strings.TrimSuffix(line, "\n"))
		}
		return
	}
	if s != "" && plainSafe.MatchString(s) && !notPlain[strings.ToLower(s)] {
		b.WriteString(s)
		return
	}
	b.WriteString(strconv.Quote(s)) // Go's escapes are a subset of YAML's double-quoted ones
}

// blockable: a literal block with clipping gives s back exactly (the
// first line sets the indentation, so it must start with text; lines of
// spaces only are ambiguous).
func blockable(s string) bool {
	if len(s) < 2 || !strings.HasSuffix(s, "\n") || strings.HasSuffix(s, "\n\n") || !strings.Contains(s[:len(s)-1], "\n") ||
		s[0] == ' ' || s[0] == '\n' {
		return false
	}
	for _, line := range strings.Split(s[:len(s)-1], "\n") {
		if line != "" && strings.TrimLeft(line, " ") == "" {
			return false
		}
	}
	for _, r := range s {
		if r == '\t' || r == '\r' || (r < 0x20 && r != '\n') || r == 0x7f || r == utf8.RuneError {
			return false
		}
	}
	return true
}
