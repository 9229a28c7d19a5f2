package actionpolicy

import (
	"errors"
	"strings"
	"testing"
)

func mustParse(t *testing.T, text string, groups Groups) (*Policy, []Warning) {
	t.Helper()
	p, warns, err := Parse("test.policy", strings.NewReader(text), groups)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p, warns
}

func TestDecisionDetails(t *testing.T) {
	text := "policy default deny\n" +
		"deny\tcert=bob\t*\t*\t*\n" +
		"allow\tcert=alice\tping\t*\t*\n" +
		"allow\tcert=carol\t*\tnot_a_fact\t*\n" +
		"allow\t*\t*\t*\t*\n"
	p, _ := mustParse(t, text, nil)
	tests := []struct {
		name, caller, action string
		allow                bool
		line                 int
		reason               string
		policyErr            bool
	}{
		{"explicit deny", "cert=bob", "ping", false, 2, "Denying based on explicit 'deny' policy in test.policy", false},
		{"explicit allow", "cert=alice", "ping", true, 3, "Allowing based on explicit 'allow' policy in test.policy", false},
		{"policy error denies although a later rule allows", "cert=carol", "ping", false, 4, "policy error in test.policy line 4: invalid rule: facts: \"not_a_fact\" is not a fact test", true},
		{"broken rule skipped when caller differs", "cert=dave", "ping", true, 5, "Allowing based on explicit 'allow' policy in test.policy", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := p.Evaluate(request("globex", tt.caller, "rpcutil#"+tt.action))
			if d.Allowed != tt.allow || d.Line != tt.line || d.Policy != "test.policy" {
				t.Fatalf("got %+v", d)
			}
			if !strings.HasPrefix(d.Reason, tt.reason) {
				t.Errorf("reason %q, want prefix %q", d.Reason, tt.reason)
			}
			if got := errors.Is(d.Err, ErrPolicy); got != tt.policyErr {
				t.Errorf("errors.Is(Err, ErrPolicy) = %v (Err %v)", got, d.Err)
			}
		})
	}

	t.Run("default", func(t *testing.T) {
		p, _ := mustParse(t, "policy default deny\n", nil)
		d := p.Evaluate(request("globex", "cert=x", "rpcutil#ping"))
		if d.Allowed || d.Line != 0 || d.Reason != "Denying based on default policy in test.policy" {
			t.Fatalf("got %+v", d)
		}
	})
	t.Run("no default line is deny for Evaluate", func(t *testing.T) {
		p, _ := mustParse(t, "allow\tcert=rip\t*\t*\t*\n", nil)
		if d := p.Evaluate(request("globex", "cert=x", "rpcutil#ping")); d.Allowed {
			t.Fatalf("got %+v", d)
		}
		if present, _ := p.HasDefault(); present {
			t.Fatal("HasDefault reports a default line")
		}
	})
}

func TestCallers(t *testing.T) {
	groups := Groups{"admins": {"cert=alice", "choria=bob.mcollective"}}
	tests := []struct {
		name, callers, caller string
		match                 bool
	}{
		{"exact", "cert=bob", "cert=bob", true},
		{"substring attack: bob vs bobby", "cert=bobby", "cert=bob", false},
		{"superstring does not match", "cert=bob", "cert=bobby", false},
		{"prefix of field", "cert=alice cert=bob", "cert=al", false},
		{"whole field with space", "cert=alice cert=bob", "cert=alice cert=bob", false},
		{"second of list", "cert=alice cert=bob", "cert=bob", true},
		{"group member", "admins", "choria=bob.mcollective", true},
		{"group non-member", "admins", "cert=carol", false},
		{"group name is not a caller", "admins", "admins", false},
		{"unknown group is an exact token", "operators", "operators", true},
		{"regex", "/^up=/", "up=bob", true},
		{"regex is case-sensitive", "/^up=/", "UP=bob", false},
		{"invalid regex never matches", "/(/", "(", false},
		{"star", "*", "anything=at_all", true},
		{"star in a list is literal", "cert=a *", "cert=b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := mustParse(t, "policy default deny\nallow\t"+tt.callers+"\t*\t*\t*\n", groups)
			if d := p.Evaluate(request("globex", tt.caller, "rpcutil#ping")); d.Allowed != tt.match {
				t.Fatalf("caller %q vs %q: %+v", tt.caller, tt.callers, d)
			}
		})
	}
}

func TestFactsAndClassesFields(t *testing.T) {
	tests := []struct {
		name, node, facts, classes string
		want                       bool // rule matches (allow); false: default deny
		policyErr                  bool
	}{
		{"ge", "acme_prod", "cpus>=8", "*", true, false},
		{"le fails", "acme_dev", "cpus<=8", "*", false, false},
		{"=> alias", "acme_prod", "cpus=>8", "*", true, false},
		{"== string case-insensitive", "acme_prod", "customer==ACME", "*", true, false},
		{"=~", "acme_prod", "environment=~^prod", "*", true, false},
		{"regex with parens is compound but fine", "globex", "customer=/^(acme|globex)$/", "*", true, false},
		{"missing fact", "globex", "nope!=x", "*", false, false},
		{"compound or", "globex", "customer=acme or cpus<4", "*", true, false},
		{"not binds tightest", "globex", "not customer=acme and cpus<4", "*", true, false},
		{"bang prefix", "globex", "!customer=acme", "*", true, false},
		{"bang group", "globex", "!(customer=globex or cpus>100)", "*", false, false},
		{"left to right: a or b and c", "acme_dev", "customer=acme or cpus>100 and role=db", "*", false, false},
		{"parentheses override", "acme_dev", "customer=acme or (cpus>100 and role=db)", "*", true, false},
		{"class in compound facts field", "acme_dev", "role::web and cpus=16", "*", true, false},
		{"class regex in compound", "acme_dev", "/^acme::/ and customer=acme", "*", true, false},
		{"data function: rule never matches", "globex", "puppet().enabled=false", "*", false, false},
		{"data function under not: still never matches", "globex", "not puppet().enabled=false", "*", false, false},
		{"data function in short-circuited branch", "globex", "customer=globex or puppet(x).y=1", "*", false, false},
		{"plain class list", "acme_dev", "*", "acme::devserver base", true, false},
		{"class regex", "acme_prod", "*", "/^role::/", true, false},
		{"compound classes not", "globex", "*", "!role::db", true, false},
		{"bad fact token is a policy error", "globex", "customer", "*", false, true},
		{"fact test in classes is a policy error", "globex", "*", "customer=globex", false, true},
		{"bad fact regex is a policy error", "globex", "customer=/(/", "*", false, true},
		{"syntax error: dangling and", "globex", "customer=globex and", "*", false, true},
		{"syntax error: two operands", "globex", "(customer=globex cpus=2)", "*", false, true},
		{"syntax error: unbalanced", "globex", "(customer=globex", "*", false, true},
		{"syntax error: stray )", "globex", "customer=globex or cpus=2)", "*", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := mustParse(t, "policy default deny\nallow\t*\t*\t"+tt.facts+"\t"+tt.classes+"\n", nil)
			d := p.Evaluate(request(tt.node, "cert=x", "rpcutil#ping"))
			if d.Allowed != tt.want || (d.Err != nil) != tt.policyErr {
				t.Fatalf("facts %q classes %q on %s: %+v", tt.facts, tt.classes, tt.node, d)
			}
			if tt.policyErr && (d.Line != 2 || !strings.Contains(d.Reason, "policy error in test.policy line 2")) {
				t.Errorf("policy error without line: %+v", d)
			}
		})
	}
}

func TestSpaceGrammar(t *testing.T) {
	tests := []struct {
		name, line string
		refused    bool
		caller     string
		node, call string
		allow      bool
		line3      bool // the rule on line 3 decided (else the default)
	}{
		{"seed rip", "allow cert=rip * * *", false, "cert=rip", "globex", "puppet#runonce", true, true},
		{"seed john class", "allow cert=john * customer=acme acme::devserver", false, "cert=john", "acme_prod", "puppet#runonce", false, false},
		{"seed john class holds", "allow cert=john * customer=acme acme::devserver", false, "cert=john", "acme_dev", "puppet#runonce", true, true},
		{"seed john actions", "allow cert=john enable disable status customer=acme *", false, "cert=john", "acme_prod", "puppet#status", true, true},
		{"seed john other action", "allow cert=john enable disable status customer=acme *", false, "cert=john", "acme_prod", "puppet#runonce", false, false},
		{"several callers", "allow cert=a choria=b.mcollective ping * *", false, "choria=b.mcollective", "globex", "rpcutil#ping", true, true},
		{"no classes field: no class constraint", "allow cert=a ping cpus<4", false, "cert=a", "globex", "rpcutil#ping", true, true},
		{"deny form", "deny cert=a * * *", false, "cert=a", "globex", "rpcutil#ping", false, true},
		{"bare word caller is ambiguous", "allow admins ping * *", true, "", "", "", false, false},
		{"regex caller", "allow /^up=/ * * *", true, "", "", "", false, false},
		{"compound", "allow cert=a * customer=acme and role=web *", true, "", "", "", false, false},
		{"parentheses", "allow cert=a * (customer=acme) *", true, "", "", "", false, false},
		{"negation", "allow cert=a * !customer=acme *", true, "", "", "", false, false},
		{"fact test as caller", "allow cpus>4 * * *", true, "", "", "", false, false},
		{"class where facts expected", "allow cert=a ping base", true, "", "", "", false, false},
		{"fact test among classes", "allow cert=a * * customer=acme", true, "", "", "", false, false},
		{"too few fields", "allow cert=a ping", true, "", "", "", false, false},
		{"star among classes", "allow cert=a * * base *", true, "", "", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := "policy default deny\n# comment\n" + tt.line + "\n"
			p, _, err := Parse("space.policy", strings.NewReader(text), nil)
			if tt.refused {
				var pe *PolicyError
				if !errors.As(err, &pe) || pe.Line != 3 || !strings.Contains(err.Error(), "use TABs between fields") || !errors.Is(err, ErrPolicy) {
					t.Fatalf("want refusal naming line 3, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			d := p.Evaluate(request(tt.node, tt.caller, tt.call))
			if d.Allowed != tt.allow || (d.Line == 3) != tt.line3 {
				t.Fatalf("got %+v", d)
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name, line string
		want       string // substring of the warning for line 2
		active     bool   // the rule is kept
	}{
		{"six fields", "allow\tcert=a\t*\t*\tx\t*", "6 fields", false},
		{"three fields", "allow\tcert=a\t*", "3 fields", false},
		{"capital Allow", "Allow\tcert=a\t*\t*\t*", "invalid policy line 2 in test.policy", false},
		{"indented", " allow\tcert=a\t*\t*\t*", "indented", false},
		{"mixed separators", "allow cert=a\t*\t*\t*", "mixes spaces and TABs", false},
		{"trailing tab", "allow\tcert=a\t*\t*\t*\t", "trailing TAB", false},
		{"policy typo", "policy defualt allow", "expected 'policy default", false},
		{"four-field star", "allow\tcert=a\t*\t*", "lone '*'", true},
		{"trailing space", "allow\tcert=a\t*\t*\t* ", "trailing space", true},
		{"mixed and/or", "allow\t*\t*\ta=1 or b=2 and c=3\t*", "mixed without parentheses", true},
		{"data function", "allow\t*\t*\tpuppet().enabled=false\t*", "data function puppet().enabled=false", true},
		{"unknown group", "allow\tadmins\t*\t*\t*", "neither a callerid", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, warns := mustParse(t, "policy default deny\n"+tt.line+"\n", nil)
			found := false
			for _, w := range warns {
				if w.Line == 2 && strings.Contains(w.Message, tt.want) {
					found = true
				}
			}
			if !found {
				t.Fatalf("no warning containing %q on line 2: %v", tt.want, warns)
			}
			if got := len(p.rules) == 1; got != tt.active {
				t.Errorf("rule kept = %v, want %v", got, tt.active)
			}
		})
	}
}

func TestParseGroups(t *testing.T) {
	text := "# ops\n\nadmins cert=alice cert=bob\nbad/name cert=x\nempty\n  admins   choria=carol\n"
	g, warns, err := ParseGroups(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		group, caller string
		want          bool
	}{
		{"admins", "cert=alice", true},
		{"admins", "cert=bob", true},
		{"admins", "choria=carol", true},
		{"admins", "cert=bo", false},
		{"bad/name", "cert=x", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.group+"/"+tt.caller, func(t *testing.T) {
			if got := g.Has(tt.group, tt.caller); got != tt.want {
				t.Fatalf("Has = %v", got)
			}
		})
	}
	if len(warns) != 3 || warns[0].Line != 4 || warns[1].Line != 5 || warns[2].Line != 6 {
		t.Fatalf("warnings: %v", warns)
	}
}

func TestParseLongLine(t *testing.T) {
	text := "policy default allow\nallow\t" + strings.Repeat("x", maxLineBytes+1) + "\t*\t*\t*\n"
	_, _, err := Parse("long.policy", strings.NewReader(text), nil)
	var pe *PolicyError
	if !errors.As(err, &pe) || pe.Line != 2 {
		t.Fatalf("want refusal on line 2, got %v", err)
	}
}
