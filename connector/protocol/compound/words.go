package compound

import (
	"strings"

	"github.com/tuttifleet/tutti/connector/protocol"
)

// functions maps implemented function names to their argument count.
var functions = map[string]int{"with": 1, "fact": 1, "include": 2, "identity": 0}

// variables are the names expressions can read; they are never class names.
var variables = map[string]bool{"facts": true, "classes": true, "agents": true}

// reserved words cannot be bare class names or fact names.
var reserved = map[string]bool{
	"and": true, "or": true, "not": true, "in": true, "matches": true,
	"true": true, "false": true, "nil": true,
}

// isFactOpChar reports a character that starts a fact-test operator.
func isFactOpChar(c byte) bool { return c == '=' || c == '!' || c == '<' || c == '>' }

// parseWord handles everything that starts with a letter: literals,
// variables, function calls, bare fact tests and bare class names.
func (p *parser) parseWord() (node, error) {
	start := p.pos
	end := p.scanWord(start)
	w := p.src[start:end]
	root, _, _ := strings.Cut(w, ".")
	next := byte(0)
	if end < len(p.src) {
		next = p.src[end]
	}
	switch {
	case next == '(' && isIdent(w) && !reserved[w]:
		p.pos = end
		return p.parseCall(w, start)
	case isFactOpChar(next) && (next != '!' || strings.HasPrefix(p.src[end:], "!=")) &&
		!reserved[root] && !variables[root]:
		return p.parseFactTest(start)
	case reserved[w]:
		p.pos = end
		switch w {
		case "true":
			return &litNode{val: true, text: w}, nil
		case "false":
			return &litNode{val: false, text: w}, nil
		case "nil":
			return &litNode{val: nil, text: w}, nil
		}
		p.pos = start
		return nil, p.errf(start, "unexpected keyword %q", w)
	case variables[root]:
		p.pos = end
		if w == root {
			return &varNode{name: w}, nil
		}
		path := w[len(root)+1:]
		if root != "facts" {
			return nil, p.errf(start+len(root), "%s is a list and has no fields", root)
		}
		if path == "" || strings.HasPrefix(path, ".") || strings.HasSuffix(path, ".") || strings.Contains(path, "..") {
			return nil, p.errf(start, "invalid fact path %q", w)
		}
		return &factPathNode{path: path}, nil
	}
	p.pos = end
	return &classNode{text: w, name: w, span: span{start, end}}, nil
}

// parseFactTest reads a bare MCollective-style fact test starting at
// start: up to a space, "&&", "||" or a ')' that closes an outer group.
// Parentheses inside the value must balance.
func (p *parser) parseFactTest(start int) (node, error) {
	i, depth := start, 0
scan:
	for ; i < len(p.src); i++ {
		switch c := p.src[i]; {
		case depth == 0 && isSpace(c):
			break scan
		case c == '(':
			depth++
		case c == ')':
			if depth == 0 {
				break scan
			}
			depth--
		case depth == 0 && (strings.HasPrefix(p.src[i:], "&&") || strings.HasPrefix(p.src[i:], "||")):
			break scan
		}
	}
	if depth > 0 {
		return nil, p.errf(i, "unbalanced '(' in fact test %q", p.src[start:i])
	}
	text := p.src[start:i]
	ff, err := protocol.ParseFactTest(text)
	if err != nil {
		return nil, p.errf(start, "%v", err)
	}
	if ff.Operator == "=~" {
		if err := p.countRegex(start); err != nil {
			return nil, err
		}
		if _, err := protocol.CompileRegex(ff.Value); err != nil {
			return nil, p.errf(start, "%v", err)
		}
	}
	p.pos = i
	return &factTestNode{text: text, ff: ff, span: span{start, i}}, nil
}

func (p *parser) parseCall(name string, start int) (node, error) {
	p.pos++ // '('
	c := &callNode{call: call{name: name, pos: start}}
	if !p.symbol(")") {
		for {
			p.skipSpace()
			argPos := p.pos
			a, err := p.parseOr()
			if err != nil {
				return nil, err
			}
			c.args = append(c.args, a)
			c.argPos = append(c.argPos, argPos)
			if p.symbol(")") {
				break
			}
			if !p.symbol(",") {
				if p.pos >= len(p.src) {
					return nil, p.errf(p.pos, "missing ')' (the call of %s opened at position %d)", name, start)
				}
				return nil, p.unexpected()
			}
		}
	}
	want, known := functions[name]
	if !known {
		p.unknown = append(p.unknown, c.call)
		return c, nil
	}
	if len(c.args) != want {
		return nil, p.errf(start, "%s() takes %d argument(s), got %d", name, want, len(c.args))
	}
	if name == "with" {
		if lit, ok := c.args[0].(*litNode); ok {
			s, isStr := lit.val.(string)
			if !isStr {
				return nil, p.errf(c.argPos[0], "with() needs a string")
			}
			if withRegex(s) {
				if err := p.countRegex(c.argPos[0]); err != nil {
					return nil, err
				}
			}
			w, err := compileWith(s)
			if err != nil {
				return nil, p.errf(c.argPos[0], "%v", err)
			}
			c.with = w
		}
	}
	return c, nil
}
