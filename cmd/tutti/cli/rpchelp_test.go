package cli

import (
	"strings"
	"testing"
)

func TestRPCHelpShowsDDL(t *testing.T) {
	cases := []struct {
		args      []string
		want, not []string
	}{
		{[]string{"rpc", "--help"}, []string{"Usage:"}, []string{"INPUTS:"}},
		{[]string{"rpc", "service", "--help"}, []string{"Usage:", "service#restart", "service#status"}, nil},
		{[]string{"rpc", "rpcutil", "get_fact", "--help"}, []string{"rpcutil#get_fact", "fact (string, required)"}, []string{"rpcutil#inventory"}},
		{[]string{"rpc", "nosuch", "--help"}, []string{"Usage:", "nosuch"}, []string{"INPUTS:"}},
	}
	for _, c := range cases {
		code, out, stderr := runCLI(t, c.args...)
		if code != ExitOK {
			t.Fatalf("%v: exit %d: %s", c.args, code, stderr)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: output lacks %q:\n%s", c.args, w, out)
			}
		}
		for _, n := range c.not {
			if strings.Contains(out, n) {
				t.Errorf("%v: output has %q:\n%s", c.args, n, out)
			}
		}
	}
}
