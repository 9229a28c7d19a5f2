package config

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/tuttifleet/tutti/connector/protocol"
)

func TestMaxMessageSizeMatchesProtocol(t *testing.T) {
	if defaultMaxMessageSize != protocol.DefaultMaxMessageSize {
		t.Fatalf("defaultMaxMessageSize = %d, protocol says %d", defaultMaxMessageSize, protocol.DefaultMaxMessageSize)
	}
}

// TestTypesKeysAreKnown: every key named in types.go's comments is in the
// key table, so a documented field can always be configured.
func TestTypesKeysAreKnown(t *testing.T) {
	src, err := os.ReadFile("types.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`plugin\.[a-z_]+(?:\.(?:[a-z_]+|<n>))+`)
	seen := 0
	for _, loc := range re.FindAllStringIndex(string(src), -1) {
		m := string(src[loc[0]:loc[1]])
		if strings.HasPrefix(string(src[loc[1]:]), ".*") {
			continue // a namespace, not a key
		}
		seen++
		if _, ok := Lookup(m); !ok {
			t.Errorf("types.go mentions %s, which is not in the key table", m)
		}
	}
	if seen < 20 {
		t.Fatalf("only %d plugin keys found in types.go; regexp broken?", seen)
	}
}

func TestKeyTable(t *testing.T) {
	for _, ki := range KnownKeys() {
		if ki.Section == "" || ki.Description == "" {
			t.Errorf("%s: missing section or description", ki.Key)
		}
		if (ki.Kind == KindEnum) != (len(ki.Enum) > 0) {
			t.Errorf("%s: enum values and kind disagree", ki.Key)
		}
		if ki.Kind == KindEnum && !strings.Contains(ki.Default, " ") {
			if err := checkValue(ki, ki.Default); err != nil {
				t.Errorf("%s: default %q is not an allowed value", ki.Key, ki.Default)
			}
		}
		if sectionRank(ki.Section) == len(sections) {
			t.Errorf("%s: section %q not in the reference order", ki.Key, ki.Section)
		}
	}
	for alias, canon := range aliases {
		if _, ok := Lookup(canon); !ok {
			t.Errorf("alias %s points to unknown %s", alias, canon)
		}
	}
	for _, key := range []string{
		"plugin.tutti.max_ttl", "plugin.tutti.replay_cache", "plugin.tutti.strict_reply_to",
		"plugin.tutti.require_signed_replies", "plugin.tutti.security.crl",
		"plugin.tutti.security.privileged_caller_kinds", "plugin.tutti.policy_dir",
		"plugin.tutti.audit.required", "plugin.tutti.max_message_size", "plugin.tutti.log_format",
		"plugin.tutti.callerid_kind", "plugin.tutti.request_signer.ca", "plugin.tutti.request_signer.insecure",
		"plugin.tutti.metrics_port", "plugin.activemq.pool.7.ssl.key", "plugin.rabbitmq.pool.1.host",
		"plugin.tutti.agents_dir", "plugin.tutti.service.systemctl",
		"plugin.choria.network.listen_address",
	} {
		if _, ok := Lookup(key); !ok {
			t.Errorf("%s is not known", key)
		}
	}
}

func TestReference(t *testing.T) {
	ref := Reference()
	for _, want := range []string{
		"## 3. identity\n", "| `identity` | string |", "| `ttl` | duration | `60` |",
		"| `plugin.tutti.max_ttl` | duration | `3600` |", "`plugin.activemq.pool.<n>.host`",
		"| `connector` | nats \\| activemq \\| rabbitmq | `nats` |",
		"*ignored*", "| `choria.security.request_signer.token_file` |",
	} {
		if !strings.Contains(ref, want) {
			t.Errorf("reference lacks %q", want)
		}
	}
	if strings.Index(ref, ". identity\n") > strings.Index(ref, ". broker\n") {
		t.Error("sections out of order")
	}
}
