package stomp

import (
	"errors"
	"strings"
	"testing"

	"github.com/tuttifleet/tutti/connector"
)

func TestMap(t *testing.T) {
	tests := []struct {
		dest     connector.Destination
		name     string
		selector string
	}{
		{connector.Destination{Kind: connector.Broadcast, Collective: "mcollective", Agent: "rpcutil"}, "/topic/mcollective.rpcutil.agent", ""},
		{connector.Destination{Kind: connector.Service, Collective: "dev", Agent: "aaa_signer"}, "/queue/dev.aaa_signer.service", ""},
		{connector.Destination{Kind: connector.Directed, Collective: "prod", Identity: "web1.example.net"}, "/queue/prod.nodes", "mc_identity = 'web1.example.net'"},
		{connector.Destination{Kind: connector.Reply, ReplyTo: connector.ReplyTo("mcollective", "choria=anchor.mcollective", "839a99254f3c4a07a050ce6897cef158")},
			"/queue/mcollective.reply.1bdb3802b9cdc344e84c6718136cb62a.839a99254f3c4a07a050ce6897cef158", ""},
		// MCollective's own reply-to form
		{connector.Destination{Kind: connector.Reply, ReplyTo: "/queue/mcollective.reply.anchor_1234.7"}, "/queue/mcollective.reply.anchor_1234.7", ""},
	}
	for _, tc := range tests {
		got, err := Map(tc.dest)
		if err != nil {
			t.Errorf("Map(%+v): %v", tc.dest, err)
			continue
		}
		if got.Name != tc.name || got.Selector() != tc.selector {
			t.Errorf("Map(%+v) = %q [%q], want %q [%q]", tc.dest, got.Name, got.Selector(), tc.name, tc.selector)
		}
	}
}

func TestMapRefusesWhatChangesTheDestination(t *testing.T) {
	bad := []connector.Destination{
		{Kind: connector.Reply, ReplyTo: "mcollective.reply.a,/topic/mcollective.rpcutil.agent"}, // composite destination
		{Kind: connector.Reply, ReplyTo: "/topic/mcollective.rpcutil.agent"},
		{Kind: connector.Reply, ReplyTo: "mcollective.reply.>"},
		{Kind: connector.Reply, ReplyTo: "mcollective/reply"},
		{Kind: connector.Reply, ReplyTo: "mcollective..reply"},
		{Kind: connector.Reply, ReplyTo: "/queue/"},
		{Kind: connector.Directed, Collective: "c", Identity: "x' OR mc_identity LIKE '%"}, // selector injection
		{Kind: connector.Directed, Collective: "c", Identity: ".web1"},
		{Kind: connector.Broadcast, Collective: "c.d", Agent: "rpcutil"},
		{Kind: connector.Broadcast, Collective: "c", Agent: "rpc.util"},
		{Kind: connector.Service, Collective: "*", Agent: "a"},
	}
	for _, d := range bad {
		if got, err := Map(d); err == nil {
			t.Errorf("Map(%+v) = %+v, want a refusal", d, got)
		} else if !errors.Is(err, ErrDestination) {
			t.Errorf("Map(%+v): %v does not wrap ErrDestination", d, err)
		}
	}
}

// FuzzMap: whatever a reply-to or identity says (both come from the
// network), an accepted destination names one queue or topic, with no
// wildcard, composite or path trick, and a selector that cannot escape
// its quotes.
func FuzzMap(f *testing.F) {
	f.Add("mcollective.reply.1bdb3802b9cdc344e84c6718136cb62a.839a", "web1.example.net")
	f.Add("/queue/mcollective.reply.x_1.2", "a-b_c")
	f.Add("a,b", "x'y")
	f.Add("a.>", "*")
	f.Fuzz(func(t *testing.T, replyTo, identity string) {
		for _, d := range []connector.Destination{
			{Kind: connector.Reply, ReplyTo: replyTo},
			{Kind: connector.Directed, Collective: "c", Identity: identity},
			{Kind: connector.Broadcast, Collective: identity, Agent: replyTo},
		} {
			got, err := Map(d)
			if err != nil {
				continue
			}
			rest, ok := strings.CutPrefix(got.Name, "/queue/")
			if !ok {
				rest, ok = strings.CutPrefix(got.Name, "/topic/")
			}
			if !ok || rest == "" {
				t.Fatalf("Map(%+v) = %q: not one /queue/ or /topic/", d, got.Name)
			}
			if strings.ContainsAny(rest, "*>,/ \t\r\n:'\"\\") || strings.Contains(rest, "..") || strings.HasPrefix(rest, ".") || strings.HasSuffix(rest, ".") {
				t.Fatalf("Map(%+v) = %q: wildcard, composite, path or empty element", d, got.Name)
			}
			if strings.Count(got.Selector(), "'") != 0 && strings.Count(got.Selector(), "'") != 2 {
				t.Fatalf("Map(%+v) selector %q escapes its quotes", d, got.Selector())
			}
		}
	})
}

// A reply-to with and without /queue/ names the same queue, so the
// strict_reply_to check compares it without the prefix.
func TestCanonicalReplyTo(t *testing.T) {
	c := &Conn{}
	for in, want := range map[string]string{
		"/queue/mcollective.reply.abc.1": "mcollective.reply.abc.1",
		"mcollective.reply.abc.1":        "mcollective.reply.abc.1",
		"/topic/mcollective.reply.abc.1": "/topic/mcollective.reply.abc.1",
	} {
		if got := c.CanonicalReplyTo(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
		if in != want {
			a, errA := Map(connector.Destination{Kind: connector.Reply, ReplyTo: in})
			b, errB := Map(connector.Destination{Kind: connector.Reply, ReplyTo: want})
			if errA == nil && (errB != nil || a != b) {
				t.Errorf("%q and %q map to different queues: %v %v", in, want, a, b)
			}
		}
	}
}
