package actionpolicy

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkAuthorize decides a request on a 20-rule policy whose last
// rule matches, with facts, classes and a compound field on the way.
func BenchmarkAuthorize(b *testing.B) {
	var lines []string
	lines = append(lines, "policy default deny")
	for i := 0; i < 18; i++ {
		switch i % 3 {
		case 0:
			lines = append(lines, fmt.Sprintf("allow\tcert=user%d choria=user%d.mcollective\tping status\t*\t*", i, i))
		case 1:
			lines = append(lines, fmt.Sprintf("deny\t/^up=bot%d/\t*\tcustomer=globex\t*", i))
		default:
			lines = append(lines, fmt.Sprintf("allow\tadmins\tstop_%d\tcpus>=%d and environment=production\trole::db", i, i))
		}
	}
	lines = append(lines,
		"allow\t*\tping\t(customer=acme and environment=production) or cpus<4\t/^role::/",
		"allow\tcert=john\t*\tcustomer=acme environment=/^dev/\tacme::devserver base",
	)
	dir := b.TempDir()
	writeFiles(b, dir, map[string][]string{
		"rpcutil.policy": lines,
		"groups":         {"admins cert=alice cert=bob"},
	})
	a, err := New(Config{Dir: dir}, nil)
	if err != nil {
		b.Fatal(err)
	}
	req := request("acme_dev", "cert=john", "rpcutil#inventory")
	if d := a.Authorize(req); !d.Allowed || d.Line != 21 {
		b.Fatalf("setup: %+v\n%s", d, strings.Join(lines, "\n"))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if d := a.Authorize(req); !d.Allowed {
			b.Fatal(d.Reason)
		}
	}
}
