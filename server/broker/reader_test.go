package broker

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tuttifleet/tutti/security/x509"
)

// The audit reader role: its own certificates get only the read subjects
// of the audit stream; a client that also matches keeps its client
// permissions and gains them; nothing that updates, purges or deletes.
func TestAuditReaderPermissions(t *testing.T) {
	p, err := Authorization{AuditReaders: []string{`^auditor\.example\.net$`, `^alice\.mcollective$`}, AuditStream: "AUD"}.compile()
	if err != nil {
		t.Fatal(err)
	}
	reader, err := p.authorize("auditor.example.net", "", nil)
	if err != nil || reader.role != RoleAuditReader {
		t.Fatalf("auditor: %v, %v", reader, err)
	}
	pub := reader.perms.Publish.Allow
	for _, want := range []string{"$JS.API.STREAM.INFO.AUD", "$JS.API.CONSUMER.CREATE.AUD.>", "$JS.API.CONSUMER.MSG.NEXT.AUD.*", "$JS.API.CONSUMER.DELETE.AUD.*"} {
		if !slices.Contains(pub, want) {
			t.Errorf("audit reader may not publish to %s", want)
		}
	}
	for _, s := range pub {
		if !strings.Contains(s, ".AUD") || strings.Contains(s, "PURGE") || strings.Contains(s, "STREAM.DELETE") ||
			strings.Contains(s, "UPDATE") || strings.Contains(s, "MSG.DELETE") {
			t.Errorf("audit reader may publish to %s", s)
		}
	}
	if got := reader.perms.Subscribe.Allow; len(got) != 1 || got[0] != x509.InboxPrefix("auditor.example.net")+".>" {
		t.Errorf("audit reader subscribes to %v", got)
	}
	alice, err := p.authorize("alice.mcollective", "", nil)
	if err != nil || alice.role != RoleClient || !slices.Contains(alice.perms.Publish.Allow, "$JS.API.STREAM.INFO.AUD") ||
		!slices.Contains(alice.perms.Publish.Allow, "*.broadcast.agent.>") {
		t.Fatalf("alice, client and audit reader: %v, %v", alice, err)
	}
	bob, _ := p.authorize("bob.mcollective", "", nil)
	// a client may read the CRL bucket (crlbucket.go), and no other stream
	if slices.ContainsFunc(bob.perms.Publish.Allow, func(s string) bool { return strings.HasPrefix(s, "$JS.") && !strings.Contains(s, ".KV_TUTTI_CRL") }) {
		t.Errorf("a client that is no audit reader may publish to %v", bob.perms.Publish.Allow)
	}
	if _, err := (Authorization{AuditStream: "A.B"}).compile(); !errors.Is(err, ErrConfig) {
		t.Errorf("a stream name with a dot: %v", err)
	}
}
