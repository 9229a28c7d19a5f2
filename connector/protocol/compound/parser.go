package compound

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/tuttifleet/tutti/connector/protocol"
)

// parser is a recursive-descent parser that scans the source on demand:
// whether "role=web" is one bare fact test or a word followed by an
// operator depends on where it stands, so there is no separate token
// stream.
type parser struct {
	src      string
	pos      int
	depth    int
	maxDepth int // deepest nesting reached
	regexes  int // regular expressions compiled so far
	lim      Limits
	unknown  []call
}

// limitf is the error of an expression over one of its Limits.
func (p *parser) limitf(pos int, format string, args ...any) *SyntaxError {
	e := p.errf(pos, format, args...)
	e.limit = true
	return e
}

// countRegex counts a regular expression about to be compiled at pos and
// refuses it when it is one more than lim.MaxRegexes.
func (p *parser) countRegex(pos int) error {
	p.regexes++
	if n := max(p.lim.MaxRegexes, 0); p.lim.MaxRegexes != 0 && p.regexes > n {
		return p.limitf(pos, "expression has more than %d regular expressions", n)
	}
	return nil
}

func (p *parser) errf(pos int, format string, args ...any) *SyntaxError {
	return &SyntaxError{Src: p.src, Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) unexpected() *SyntaxError {
	if p.pos >= len(p.src) {
		return p.errf(len(p.src), "unexpected end of expression")
	}
	end := p.pos + 1
	if isWordStart(p.src[p.pos]) {
		end = p.scanWord(p.pos)
	}
	return p.errf(p.pos, "unexpected %q", p.src[p.pos:end])
}

func (p *parser) skipSpace() {
	for p.pos < len(p.src) && isSpace(p.src[p.pos]) {
		p.pos++
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// isWordStart accepts ASCII letters, '_' and any byte of a multi-byte
// UTF-8 sequence, so class and fact names may use non-ASCII letters.
func isWordStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func isWordChar(c byte) bool {
	return isWordStart(c) || c >= '0' && c <= '9' || c == '.' || c == ':' || c == '-'
}

func isIdent(s string) bool {
	if s == "" || !isWordStart(s[0]) || s[0] >= 0x80 {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || !isWordStart(c) && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func (p *parser) scanWord(i int) int {
	for i < len(p.src) && isWordChar(p.src[i]) {
		i++
	}
	return i
}

// keyword reports whether the word kw starts at the current position
// (after spaces) and consumes it.
func (p *parser) keyword(kw string) bool {
	p.skipSpace()
	if !strings.HasPrefix(p.src[p.pos:], kw) {
		return false
	}
	if end := p.pos + len(kw); end < len(p.src) && isWordChar(p.src[end]) {
		return false
	}
	p.pos += len(kw)
	return true
}

// symbol consumes s (after spaces) when it is next.
func (p *parser) symbol(s string) bool {
	p.skipSpace()
	if strings.HasPrefix(p.src[p.pos:], s) {
		p.pos += len(s)
		return true
	}
	return false
}

func (p *parser) enter() error {
	p.depth++
	p.maxDepth = max(p.maxDepth, p.depth)
	if d := p.lim.depth(); p.depth > d {
		return p.limitf(p.pos, "expression nested more than %d levels deep", d)
	}
	return nil
}

func (p *parser) parseOr() (node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	l, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for p.symbol("||") || p.keyword("or") {
		r, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		l = &logicNode{and: false, l: l, r: r}
	}
	return l, nil
}

func (p *parser) parseAnd() (node, error) {
	l, err := p.parseCmp()
	if err != nil {
		return nil, err
	}
	for p.symbol("&&") || p.keyword("and") {
		r, err := p.parseCmp()
		if err != nil {
			return nil, err
		}
		l = &logicNode{and: true, l: l, r: r}
	}
	return l, nil
}

// cmpOps in the order they must be tried (longest first).
var cmpOps = []string{"==", "!=", "<=", ">=", "=~", "<", ">"}

func (p *parser) cmpOp() (string, error) {
	p.skipSpace()
	for _, op := range cmpOps {
		if p.symbol(op) {
			return op, nil
		}
	}
	for _, kw := range []string{"matches", "in"} {
		if p.keyword(kw) {
			return kw, nil
		}
	}
	if strings.HasPrefix(p.src[p.pos:], "=") {
		return "", p.errf(p.pos, "'=' is only valid inside a bare fact test such as role=web; use == to compare values")
	}
	return "", nil
}

func (p *parser) parseCmp() (node, error) {
	lpos := p.pos
	l, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	op, err := p.cmpOp()
	if err != nil || op == "" {
		return l, err
	}
	p.skipSpace()
	rpos := p.pos
	r, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for _, side := range []struct {
		n   node
		pos int
	}{{l, lpos}, {r, rpos}} {
		if isStatement(side.n) {
			p.skipSpaceAt(&side.pos)
			return nil, p.errf(side.pos, "a bare class or fact test is a condition, not a value; use fact('name') or a fact test like name=value")
		}
	}
	c := &cmpNode{op: op, l: l, r: r}
	if lit, ok := r.(*litNode); ok && (op == "matches" || op == "=~") {
		s, isStr := lit.val.(string)
		if !isStr {
			return nil, p.errf(rpos, "the right side of %s must be a string", op)
		}
		if err := p.countRegex(rpos); err != nil {
			return nil, err
		}
		if c.re, err = compilePattern(op, s); err != nil {
			return nil, p.errf(rpos, "%v", err)
		}
	}
	return c, nil
}

func (p *parser) skipSpaceAt(pos *int) {
	for *pos < len(p.src) && isSpace(p.src[*pos]) {
		*pos++
	}
}

func compilePattern(op, s string) (*regexp.Regexp, error) {
	if op == "=~" {
		return protocol.CompileRegex(s)
	}
	re, err := regexp.Compile(s)
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression %q: %w", s, err)
	}
	return re, nil
}

func (p *parser) parseUnary() (node, error) {
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == '!' && !strings.HasPrefix(p.src[p.pos:], "!=") {
		p.pos++
	} else if !p.keyword("not") {
		return p.parsePostfix()
	}
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	x, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	return &notNode{x: x}, nil
}

func (p *parser) parsePostfix() (node, error) {
	x, err := p.parsePrimary()
	if err != nil {
		return nil, err
	}
	for p.pos < len(p.src) {
		switch p.src[p.pos] {
		case '.':
			start := p.pos + 1
			end := p.scanWord(start)
			name := p.src[start:end]
			if !isIdent(name) {
				return nil, p.errf(start, "expected a field name after '.'")
			}
			p.pos = end
			x = &memberNode{x: x, key: &litNode{val: name, text: quote(name)}, dot: true}
		case '[':
			p.pos++
			idx, err := p.parseOr()
			if err != nil {
				return nil, err
			}
			if !p.symbol("]") {
				return nil, p.errf(p.pos, "expected ']'")
			}
			x = &memberNode{x: x, key: idx}
		default:
			return x, nil
		}
	}
	return x, nil
}

func (p *parser) parsePrimary() (node, error) {
	p.skipSpace()
	if p.pos >= len(p.src) {
		return nil, p.unexpected()
	}
	start := p.pos
	switch c := p.src[start]; {
	case c == '(':
		p.pos++
		x, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if !p.symbol(")") {
			if p.pos >= len(p.src) {
				return nil, p.errf(p.pos, "missing ')' (the '(' opened at position %d)", start)
			}
			return nil, p.unexpected()
		}
		return x, nil
	case c == '\'' || c == '"':
		return p.parseString()
	case c == '/':
		return p.parseClassRegex()
	case c >= '0' && c <= '9' || c == '-' && start+1 < len(p.src) && p.src[start+1] >= '0' && p.src[start+1] <= '9':
		return p.parseNumber()
	case isWordStart(c):
		return p.parseWord()
	}
	return nil, p.unexpected()
}

func (p *parser) parseString() (node, error) {
	start, q := p.pos, p.src[p.pos]
	var b strings.Builder
	for i := start + 1; i < len(p.src); i++ {
		c := p.src[i]
		switch {
		case c == q:
			p.pos = i + 1
			s := b.String()
			return &litNode{val: s, text: quote(s)}, nil
		case c == '\\' && i+1 < len(p.src):
			i++
			switch e := p.src[i]; e {
			case '\\', '\'', '"':
				b.WriteByte(e)
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			default:
				b.WriteByte('\\')
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return nil, p.errf(start, "unterminated string")
}

// quote renders s so parseString reads it back unchanged.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`, "\r", `\r`)
	return `"` + r.Replace(s) + `"`
}

func (p *parser) parseNumber() (node, error) {
	start := p.pos
	i := start
	if p.src[i] == '-' {
		i++
	}
	for i < len(p.src) && p.src[i] >= '0' && p.src[i] <= '9' {
		i++
	}
	if i+1 < len(p.src) && p.src[i] == '.' && p.src[i+1] >= '0' && p.src[i+1] <= '9' {
		i++
		for i < len(p.src) && p.src[i] >= '0' && p.src[i] <= '9' {
			i++
		}
	}
	text := p.src[start:i]
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return nil, p.errf(start, "invalid number %q", text)
	}
	p.pos = i
	return &litNode{val: f, text: text}, nil
}

// parseClassRegex reads a bare /re/ class statement.
func (p *parser) parseClassRegex() (node, error) {
	start := p.pos
	for i := start + 1; i < len(p.src); i++ {
		switch p.src[i] {
		case '\\':
			i++
		case '/':
			text := p.src[start : i+1]
			if len(text) == 2 {
				return nil, p.errf(start, "empty class regular expression")
			}
			if err := p.countRegex(start); err != nil {
				return nil, err
			}
			re, err := protocol.CompileNameRegex(text)
			if err != nil {
				return nil, p.errf(start, "%v", err)
			}
			p.pos = i + 1
			return &classRegexNode{text: text, re: re, span: span{start, i + 1}}, nil
		}
	}
	return nil, p.errf(start, "unterminated /regular expression/")
}
