package actionpolicy

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/tuttifleet/tutti/connector/protocol"
)

var defaultRE = regexp.MustCompile(`^policy\s+default\s+(\w+)`)

// ruleFields is a rule line split into its fields.
type ruleFields struct {
	allow                            bool
	callers, actions, facts, classes string
	four                             bool // TAB four-field rule: facts is one expression over facts and classes
	noClasses                        bool // space form without classes: no class constraint
}

// Parse reads one policy file (docs/actionpolicy.md §2.3–§2.6). name is the file name
// used in reasons ("rpcutil.policy"); groups resolves group names in the
// callers field (nil: no groups).
//
// Lines that are not understood are ignored and returned as warnings. The
// error is non-nil, always a *PolicyError with the line number, when the
// file must be refused: a rule written with spaces that cannot be read
// unambiguously, or a read failure. A refused file denies every request.
//
// A broken facts or classes field (not a fact test, bad regex, syntax
// error in a compound expression) does not refuse the file: the rule
// denies any request whose caller and action it matches, with the error as
// reason, and a warning is returned.
func Parse(name string, r io.Reader, groups Groups) (*Policy, []Warning, error) {
	p := &Policy{
		name:         name,
		allowDefault: "Allowing based on default policy in " + name,
		denyDefault:  "Denying based on default policy in " + name,
	}
	var warns []Warning
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLineBytes)
	n := 0
	for sc.Scan() {
		n++
		ws, err := p.parseLine(n, sc.Text(), groups)
		warns = append(warns, ws...)
		if err != nil {
			return nil, warns, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, warns, &PolicyError{File: name, Line: n + 1, Reason: "cannot read line", Err: err}
	}
	return p, warns, nil
}

func (p *Policy) parseLine(n int, line string, groups Groups) ([]Warning, error) {
	invalid := func(why string) []Warning {
		return []Warning{{n, fmt.Sprintf("invalid policy line %d in %s: %s, line ignored", n, p.name, why)}}
	}
	switch {
	case strings.TrimSpace(line) == "" || line[0] == '#':
		return nil, nil
	case strings.HasPrefix(line, "policy"):
		m := defaultRE.FindStringSubmatch(line)
		if m == nil {
			return invalid("expected 'policy default allow' or 'policy default deny'"), nil
		}
		p.hasDefault, p.defaultAllow = true, m[1] == "allow"
		if m[1] != "allow" && m[1] != "deny" {
			return []Warning{{n, fmt.Sprintf("policy default %q is read as deny", m[1])}}, nil
		}
		return nil, nil
	case strings.HasPrefix(line, "allow\t") || strings.HasPrefix(line, "deny\t"):
		f, why := tabFields(line)
		if why != "" {
			return invalid(why), nil
		}
		return p.addRule(n, f, groups), nil
	case (strings.HasPrefix(line, "allow ") || strings.HasPrefix(line, "deny ")) && !strings.Contains(line, "\t"):
		f, err := spaceFields(line)
		if err != nil {
			return nil, &PolicyError{File: p.name, Line: n,
				Reason: "rule written with spaces cannot be read unambiguously, use TABs between fields", Err: err}
		}
		return p.addRule(n, f, groups), nil
	case strings.HasPrefix(line, "allow ") || strings.HasPrefix(line, "deny "):
		return invalid("rule mixes spaces and TABs between fields, use TABs"), nil
	case line[0] == ' ' || line[0] == '\t':
		return invalid("indented line"), nil
	}
	return invalid("not a comment, 'policy default' or allow/deny rule (lower case, TAB-separated)"), nil
}

// tabFields splits a TAB rule: runs of TABs are one separator; 4 or 5
// fields. The reason is non-empty when the line is invalid.
func tabFields(line string) (ruleFields, string) {
	f := strings.FieldsFunc(line, func(r rune) bool { return r == '\t' })
	if strings.HasSuffix(line, "\t") {
		return ruleFields{}, "trailing TAB"
	}
	switch {
	case len(f) < 4:
		return ruleFields{}, fmt.Sprintf("%d fields, a rule needs 4 or 5 TAB-separated fields", len(f))
	case len(f) > 5:
		return ruleFields{}, fmt.Sprintf("%d fields, a rule has at most 5 TAB-separated fields", len(f))
	}
	rf := ruleFields{allow: f[0] == "allow", callers: f[1], actions: f[2], facts: f[3]}
	if len(f) == 4 {
		rf.four = true
	} else {
		rf.classes = f[4]
	}
	return rf, ""
}

// addRule compiles f and appends it; it returns lint warnings.
func (p *Policy) addRule(n int, f ruleFields, groups Groups) []Warning {
	var warns []Warning
	warn := func(format string, args ...any) {
		warns = append(warns, Warning{n, fmt.Sprintf(format, args...)})
	}
	r := rule{line: n, allow: f.allow}
	if f.allow {
		r.reason = "Allowing based on explicit 'allow' policy in " + p.name
	} else {
		r.reason = "Denying based on explicit 'deny' policy in " + p.name
	}
	r.anyCaller = strings.TrimSpace(f.callers) == "*"
	if !r.anyCaller {
		r.callers = map[string]struct{}{}
		for _, t := range strings.Fields(f.callers) {
			p.addCaller(&r, t, groups, warn)
		}
	}
	r.anyAction = strings.TrimSpace(f.actions) == "*"
	if !r.anyAction {
		r.actions = strings.Fields(f.actions)
		for _, a := range r.actions {
			if a == "*" {
				warn("'*' matches any action only as the whole actions field")
			}
		}
	}
	if last := f.classes; f.four || f.noClasses {
		last = f.facts
		if strings.TrimRight(last, " ") != last {
			warn("trailing space in the last field")
		}
	} else if strings.TrimRight(last, " ") != last {
		warn("trailing space in the classes field: %q is not '*'", last)
	}
	if err := compileMatch(&r, f, warn); err != nil {
		r.err = &PolicyError{File: p.name, Line: n, Reason: "invalid rule", Err: err}
		r.reason = r.err.Error()
		warn("%v: the rule denies every request for its callers and actions", err)
	}
	p.rules = append(p.rules, r)
	return warns
}

func (p *Policy) addCaller(r *rule, t string, groups Groups, warn func(string, ...any)) {
	switch {
	case protocol.IsRegex(t):
		re, err := regexp.Compile(t[1 : len(t)-1])
		if err != nil {
			warn("invalid caller regex %s never matches: %v", t, err)
			return
		}
		r.callerREs = append(r.callerREs, re)
		return
	case t == "*":
		warn("'*' matches any caller only as the whole callers field")
	case len(groups[t]) > 0:
		for _, m := range groups[t] {
			r.callers[m] = struct{}{}
		}
		return
	case !strings.Contains(t, "="):
		warn("caller %q is neither a callerid (kind=name) nor a known group", t)
	}
	r.callers[t] = struct{}{}
}

// compileMatch compiles the facts and classes fields of f into r.
func compileMatch(r *rule, f ruleFields, warn func(string, ...any)) error {
	var fc, cc compiled
	var err error
	switch {
	case f.four:
		if strings.TrimSpace(f.facts) == "*" {
			warn("four-field rule: a lone '*' is a class named '*' and never matches; add a fifth field")
		}
		fc, err = compileCompound(f.facts)
	case f.facts == "*":
	case isCompound(f.facts):
		fc, err = compileCompound(f.facts)
	default:
		fc, err = compilePlainFacts(f.facts)
	}
	if err != nil {
		return fmt.Errorf("facts: %w", err)
	}
	switch {
	case f.four || f.noClasses || f.classes == "*":
	case isCompound(f.classes):
		cc, err = compileCompound(f.classes)
	default:
		cc, err = compilePlainClasses(f.classes)
	}
	if err != nil {
		return fmt.Errorf("classes: %w", err)
	}
	r.facts, r.classes = fc.n, cc.n
	for _, c := range []compiled{fc, cc} {
		if c.mixed {
			warn("'and' and 'or' mixed without parentheses: read left to right, 'a or b and c' is '(a or b) and c'")
		}
		if c.dataFunc != "" && r.dataFunc == "" {
			r.dataFunc = c.dataFunc
			warn("data function %s is not available: the rule never matches", c.dataFunc)
		}
	}
	return nil
}
