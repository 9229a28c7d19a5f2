package actionpolicy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, set := range policySets {
		for _, lines := range set {
			f.Add(strings.Join(lines, "\n") + "\n")
		}
	}
	for _, s := range []string{
		"allow\t*\t*\t!(a=1 or not (b<2 and /x/)) and c()\t*\n",
		"allow\t*\t*\tpuppet(a(b)).x=1 or (((\t*\n",
		"allow cert=a * x=/(/ *\n",
		"deny\t/(/\t*\tf=~[\t/[/\n",
	} {
		f.Add(s)
	}
	groups := Groups{"admins": {"cert=alice"}}
	f.Fuzz(func(t *testing.T, text string) {
		p, warns, err := Parse("fuzz.policy", strings.NewReader(text), groups)
		for _, w := range warns {
			if w.Line < 1 {
				t.Fatalf("warning without line: %v", w)
			}
		}
		if err != nil {
			var pe *PolicyError
			if !errors.As(err, &pe) || pe.Line < 1 || !strings.Contains(err.Error(), fmt.Sprintf("line %d", pe.Line)) {
				t.Fatalf("error without line number: %v", err)
			}
			return
		}
		for _, n := range []string{"acme_dev", "globex"} {
			d := p.Evaluate(request(n, "cert=alice", "rpcutil#ping"))
			if d.Reason == "" || !d.Allowed && d.Line == 0 && !strings.Contains(d.Reason, "default policy") {
				t.Fatalf("decision without reason or line: %+v", d)
			}
			if d.Allowed && d.Err != nil {
				t.Fatalf("allowed with a policy error: %+v", d)
			}
		}
	})
}

func FuzzGroups(f *testing.F) {
	f.Add("admins cert=a cert=b\n# x\nbad/ x\n")
	f.Fuzz(func(t *testing.T, text string) {
		g, warns, err := ParseGroups(strings.NewReader(text))
		if err != nil {
			return
		}
		for _, w := range warns {
			if w.Line < 1 {
				t.Fatalf("warning without line: %v", w)
			}
		}
		for name, members := range g {
			if len(members) == 0 || !groupNameRE.MatchString(name) {
				t.Fatalf("group %q kept with members %v", name, members)
			}
		}
	})
}
