package broker

import (
	"strings"
	"testing"
)

func TestParseViolation(t *testing.T) {
	tests := []struct {
		line string
		want violation
		ok   bool
	}{
		{`127.0.0.1:50000 - cid:7 - "v1.47.0:go:dev" - "$G/user:carol.dev.mcollective" - Subscription Violation - Subject "prod.reply.ab.>", SID 3`,
			violation{certificate: "carol.dev.mcollective", operation: "subscribe", subject: "prod.reply.ab.>"}, true},
		{`127.0.0.1:50000 - cid:7 - "v1.47.0:go:n1" - "$G/user:n1" - Subscription Violation - Subject "c.node.n2", Queue: "q", SID 3`,
			violation{certificate: "n1", operation: "subscribe", subject: "c.node.n2"}, true},
		{`127.0.0.1:50000 - cid:8 - "$G/user:n1" - Publish Violation - Subject "c.broadcast.agent.rpcutil"`,
			violation{certificate: "n1", operation: "publish", subject: "c.broadcast.agent.rpcutil"}, true},
		{`127.0.0.1:50000 - cid:8 - "$G/user:we\"ird" - Publish Violation - Reply "_INBOX.x"`,
			violation{certificate: `we"ird`, operation: "publish", subject: "_INBOX.x"}, true},
		{`127.0.0.1:50000 - cid:9 - authentication error`, violation{}, false},
		{`Subscription Violation - Subject "x"`, violation{}, false}, // no user: not ours to attribute
	}
	for _, tc := range tests {
		got, ok := parseViolation(tc.line)
		if ok != tc.ok || got != tc.want {
			t.Errorf("parseViolation(%q) = %+v, %v; want %+v, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzParseViolation(f *testing.F) {
	f.Add(`1.2.3.4:5 - cid:1 - "$G/user:a.b" - Publish Violation - Subject "x.y"`)
	f.Add(`"$G/user:\"" - Subscription Violation - Subject "\x"`)
	f.Fuzz(func(t *testing.T, line string) {
		v, ok := parseViolation(line)
		if ok && (v.operation != "publish" && v.operation != "subscribe" || !strings.Contains(line, "Violation")) {
			t.Fatalf("parseViolation(%q) = %+v", line, v)
		}
	})
}

func TestAuthorizeNames(t *testing.T) {
	p, err := Authorization{}.compile()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]Role{
		"alice.mcollective": RoleClient, "aaa.privileged.mcollective": RolePrivileged, "x.choria": RoleClient,
		"node1.example.net": RoleNode, "mcollective": RoleNode,
	} {
		g, err := p.authorize(name, "", nil)
		if err != nil || g.role != want {
			t.Errorf("authorize(%q) = %v, %v; want role %s", name, g, err, want)
		}
	}
	for _, bad := range []string{"", "a b", "a.*", "a.>", "a..b", ">", "x\x00y"} {
		if _, err := p.authorize(bad, "", nil); err == nil {
			t.Errorf("authorize(%q) accepted a name that is not literal subject tokens", bad)
		}
	}
}
