package actionpolicy

import (
	"regexp"

	"github.com/tuttifleet/tutti/connector/protocol"
)

// ClassSource is the node's class list (classesfile).
type ClassSource interface {
	HasClass(name string) bool
	Classes() []string
}

// Request is what a policy decides on: the signed callerid, the envelope
// agent and the action, and the node's facts and classes. Facts and
// Classes may be nil (no facts, no classes).
type Request struct {
	CallerID, Agent, Action string
	Facts                   protocol.FactSource
	Classes                 ClassSource
}

// Decision is the outcome of authorizing one request. Reason uses the
// docs/actionpolicy.md §2.7 wording and goes to the log and the audit record.
type Decision struct {
	Allowed bool
	Reason  string // e.g. "Denying based on default policy in rpcutil.policy"
	Policy  string // policy file name that decided, "" when unconfigured
	Line    int    // rule line that decided, 0 for a default/fallback
	// Err is set when a policy error decided (file refused, or the rule
	// that matched caller and action is broken); errors.Is(Err, ErrPolicy).
	Err error
}

// Policy is one parsed policy file. It is immutable and safe for
// concurrent use.
type Policy struct {
	name         string
	rules        []rule
	hasDefault   bool // a `policy default` line was read
	defaultAllow bool // value of the last `policy default` line

	allowDefault, denyDefault string // precomputed reasons
}

// Name is the policy file name given to Parse.
func (p *Policy) Name() string { return p.name }

// HasDefault reports whether the file has a `policy default` line and,
// if so, whether the last one allows.
func (p *Policy) HasDefault() (present, allow bool) { return p.hasDefault, p.defaultAllow }

// Evaluate decides req with this policy. Without a `policy default` line
// the fallback is deny, as with allow_unconfigured off; the Authorizer
// passes its own allow_unconfigured setting instead.
func (p *Policy) Evaluate(req Request) Decision { return p.evaluate(req, false) }

func (p *Policy) evaluate(req Request, unconfiguredAllow bool) Decision {
	e := env{facts: req.Facts, classes: req.Classes}
	for i := range p.rules {
		r := &p.rules[i]
		if !r.matchCaller(req.CallerID) || !r.matchAction(req.Action) {
			continue
		}
		if r.err != nil {
			return Decision{Reason: r.reason, Policy: p.name, Line: r.line, Err: r.err}
		}
		if r.dataFunc != "" {
			continue // W16: an unavailable data function never matches
		}
		if r.facts != nil && !r.facts.eval(e) {
			continue
		}
		if r.classes != nil && !r.classes.eval(e) {
			continue
		}
		return Decision{Allowed: r.allow, Reason: r.reason, Policy: p.name, Line: r.line}
	}
	allow := unconfiguredAllow
	if p.hasDefault {
		allow = p.defaultAllow
	}
	if allow {
		return Decision{Allowed: true, Reason: p.allowDefault, Policy: p.name}
	}
	return Decision{Reason: p.denyDefault, Policy: p.name}
}

// rule is one compiled allow/deny line.
type rule struct {
	line  int
	allow bool

	anyCaller bool
	callers   map[string]struct{} // exact callerids and members of named groups
	callerREs []*regexp.Regexp

	anyAction bool
	actions   []string

	facts, classes node // nil: always true
	dataFunc       string
	err            *PolicyError // set: the rule denies whenever caller and action match
	reason         string       // precomputed Decision.Reason
}

func (r *rule) matchCaller(id string) bool {
	if r.anyCaller {
		return true
	}
	if _, ok := r.callers[id]; ok {
		return true
	}
	for _, re := range r.callerREs {
		if re.MatchString(id) {
			return true
		}
	}
	return false
}

func (r *rule) matchAction(a string) bool {
	if r.anyAction {
		return true
	}
	for _, x := range r.actions {
		if x == a {
			return true
		}
	}
	return false
}
