package actionpolicy

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/tuttifleet/tutti/connector/protocol"
)

var (
	callerIDRE   = regexp.MustCompile(`^[a-z]+=[\w.\-]+$`)
	actionNameRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
)

// spaceFields reads a rule written with spaces instead of TABs (the
// project seed's form) with the strict grammar of docs/actionpolicy.md §2.3:
//
//	verb callers… actions… facts… [classes…]
//
// callers are callerids (kind=name) or a lone '*'; actions are bare action
// names or a lone '*'; facts are fact tests or a lone '*'; the rest are
// class names, /regex/ or a lone '*'. Without classes there is no class
// constraint. Any token that could belong to two fields, any compound
// expression and any token fitting no field is an error: the line is not
// guessed.
func spaceFields(line string) (ruleFields, error) {
	toks := strings.Fields(line)
	rf := ruleFields{allow: toks[0] == "allow"}
	toks = toks[1:]
	for _, t := range toks {
		if t == "and" || t == "or" || t == "not" || t[0] == '!' || strings.ContainsAny(t, "()") {
			return rf, fmt.Errorf("compound expression (%q)", t)
		}
	}
	var err error
	if rf.callers, toks, err = spaceField(toks, "callers", isCallerToken); err != nil {
		return rf, err
	}
	if rf.actions, toks, err = spaceField(toks, "actions", actionNameRE.MatchString); err != nil {
		return rf, err
	}
	if rf.facts, toks, err = spaceField(toks, "facts", isFactToken); err != nil {
		return rf, err
	}
	switch {
	case len(toks) == 0:
		rf.noClasses = true
	case len(toks) == 1 && toks[0] == "*":
		rf.classes = "*"
	default:
		for _, t := range toks {
			switch {
			case t == "*":
				return rf, errors.New("'*' among class names")
			case protocol.IsRegex(t):
			case looksLikeFact(t):
				return rf, fmt.Errorf("%q is a fact test where a class name is expected", t)
			}
		}
		rf.classes = strings.Join(toks, " ")
	}
	return rf, nil
}

// spaceField takes a lone '*' or the longest run of tokens accepted by ok
// from toks and returns them joined, and the remaining tokens.
func spaceField(toks []string, field string, ok func(string) bool) (string, []string, error) {
	if len(toks) == 0 {
		return "", nil, fmt.Errorf("too few fields: %s missing", field)
	}
	if toks[0] == "*" {
		return "*", toks[1:], nil
	}
	i := 0
	for i < len(toks) && ok(toks[i]) {
		i++
	}
	if i == 0 {
		t := toks[0]
		switch {
		case field == "callers" && actionNameRE.MatchString(t):
			return "", nil, fmt.Errorf("%q could be a group name or an action", t)
		case field == "callers" && protocol.IsRegex(t):
			return "", nil, fmt.Errorf("caller regex %q", t)
		}
		return "", nil, fmt.Errorf("%q does not fit the %s field", t, field)
	}
	return strings.Join(toks[:i], " "), toks[i:], nil
}

func isCallerToken(t string) bool { return callerIDRE.MatchString(t) }

func isFactToken(t string) bool {
	if protocol.IsRegex(t) || !looksLikeFact(t) {
		return false
	}
	_, err := parseFact(t)
	return err == nil
}
