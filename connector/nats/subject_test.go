package nats

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/connector"
)

func TestSubject(t *testing.T) {
	tests := []struct {
		name string
		dest connector.Destination
		want string
	}{
		{"broadcast", connector.Destination{Kind: connector.Broadcast, Collective: "mcollective", Agent: "rpcutil"}, "mcollective.broadcast.agent.rpcutil"},
		{"broadcast sub-collective", connector.Destination{Kind: connector.Broadcast, Collective: "uk_dc-1", Agent: "choria_util"}, "uk_dc-1.broadcast.agent.choria_util"},
		{"service", connector.Destination{Kind: connector.Service, Collective: "mcollective", Agent: "scheduler"}, "mcollective.broadcast.service.scheduler"},
		{"directed", connector.Destination{Kind: connector.Directed, Collective: "mcollective", Identity: "node001.choria.local"}, "mcollective.node.node001.choria.local"},
		{"reply verbatim", connector.Destination{Kind: connector.Reply, ReplyTo: "mcollective.reply.1bdb3802b9cdc344e84c6718136cb62a.839a99254f3c4a07a050ce6897cef158"}, "mcollective.reply.1bdb3802b9cdc344e84c6718136cb62a.839a99254f3c4a07a050ce6897cef158"},
		{"reply to a stream subject", connector.Destination{Kind: connector.Reply, ReplyTo: "results.stream"}, "results.stream"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Subject(tc.dest)
			if err != nil {
				t.Fatalf("Subject(%+v): %v", tc.dest, err)
			}
			if got != tc.want {
				t.Errorf("Subject(%+v) = %q, want %q", tc.dest, got, tc.want)
			}
		})
	}
}

func TestSubjectRefusals(t *testing.T) {
	tests := []struct {
		name   string
		dest   connector.Destination
		reason string
	}{
		{"agent upper case", connector.Destination{Kind: connector.Broadcast, Collective: "c", Agent: "RPC"}, "agent"},
		{"agent with dot", connector.Destination{Kind: connector.Broadcast, Collective: "c", Agent: "a.b"}, "agent"},
		{"agent wildcard", connector.Destination{Kind: connector.Service, Collective: "c", Agent: ">"}, "agent"},
		{"collective with dot", connector.Destination{Kind: connector.Broadcast, Collective: "a.b", Agent: "x"}, "collective"},
		{"collective empty", connector.Destination{Kind: connector.Directed, Identity: "n"}, "collective"},
		{"identity wildcard", connector.Destination{Kind: connector.Directed, Collective: "c", Identity: "n.*"}, "identity"},
		{"identity leading dot", connector.Destination{Kind: connector.Directed, Collective: "c", Identity: ".n"}, "empty name part"},
		{"identity double dot", connector.Destination{Kind: connector.Directed, Collective: "c", Identity: "a..b"}, "empty name part"},
		{"identity trailing dot", connector.Destination{Kind: connector.Directed, Collective: "c", Identity: "a."}, "empty name part"},
		{"identity tab", connector.Destination{Kind: connector.Directed, Collective: "c", Identity: "a\tb"}, "identity"},
		{"reply empty", connector.Destination{Kind: connector.Reply}, "empty reply-to"},
		{"reply space", connector.Destination{Kind: connector.Reply, ReplyTo: "a. b"}, "whitespace"},
		{"reply newline", connector.Destination{Kind: connector.Reply, ReplyTo: "a.b\r\nPUB x 1"}, "whitespace"},
		{"reply star", connector.Destination{Kind: connector.Reply, ReplyTo: "a.*.b"}, "wildcard"},
		{"reply gt", connector.Destination{Kind: connector.Reply, ReplyTo: "a.>"}, "wildcard"},
		{"reply empty token", connector.Destination{Kind: connector.Reply, ReplyTo: "a..b"}, "empty subject token"},
		{"unknown kind", connector.Destination{Kind: 42, Collective: "c", Agent: "a"}, "unknown kind"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Subject(tc.dest)
			if !errors.Is(err, ErrDestination) {
				t.Fatalf("Subject(%+v) = %v, want ErrDestination", tc.dest, err)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q does not say %q", err, tc.reason)
			}
		})
	}
}

func TestReplyTo(t *testing.T) {
	tests := []struct {
		collective, caller, id, want string
	}{
		{"mcollective", "choria=anchor.mcollective", "839a99254f3c4a07a050ce6897cef158", "mcollective.reply.1bdb3802b9cdc344e84c6718136cb62a.839a99254f3c4a07a050ce6897cef158"},
		{"mcollective", "up=bob", "abc", "mcollective.reply.72dc525f8fe0064c0372c1fb3d729560.abc"},
		{"uk", "up=bob", "1", "uk.reply.72dc525f8fe0064c0372c1fb3d729560.1"},
	}
	c := &Conn{}
	for _, tc := range tests {
		t.Run(tc.caller, func(t *testing.T) {
			if got := c.NewReplyTo(tc.collective, tc.caller, tc.id); got != tc.want {
				t.Errorf("NewReplyTo = %q, want %q", got, tc.want)
			}
			if !strings.HasPrefix(tc.want, connector.ReplyPrefix(tc.collective, tc.caller)) {
				t.Errorf("ReplyPrefix(%q, %q) = %q is not a prefix of %q", tc.collective, tc.caller, connector.ReplyPrefix(tc.collective, tc.caller), tc.want)
			}
			if _, err := Subject(connector.Destination{Kind: connector.Reply, ReplyTo: tc.want}); err != nil {
				t.Errorf("generated reply-to refused: %v", err)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	for n := 1; n <= 10; n++ {
		for range 50 {
			d := backoff(n)
			lo := min(backoffMin<<(n-1), backoffMax)
			if d < lo || d >= lo+lo/2 {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v)", n, d, lo, lo+lo/2)
			}
		}
	}
	if backoff(100) > 3*time.Second {
		t.Errorf("backoff does not cap: %v", backoff(100))
	}
}

// FuzzSubject checks that every accepted destination becomes a literal
// NATS subject: no wildcard, whitespace or empty token can slip through.
func FuzzSubject(f *testing.F) {
	f.Add(1, "mcollective", "rpcutil", "node1.example.net", "mcollective.reply.x.y")
	f.Add(2, "c", "a", "a..b", "a.>")
	f.Add(3, "c", "a", "n", "a b")
	f.Add(4, "c-1", "x_y", "*", "")
	f.Fuzz(func(t *testing.T, kind int, coll, agent, identity, replyTo string) {
		d := connector.Destination{Kind: connector.Kind(kind), Collective: coll, Agent: agent, Identity: identity, ReplyTo: replyTo}
		subj, err := Subject(d)
		if err != nil {
			if !errors.Is(err, ErrDestination) {
				t.Fatalf("error does not wrap ErrDestination: %v", err)
			}
			return
		}
		if strings.ContainsFunc(subj, isSpaceOrControl) {
			t.Fatalf("subject %q has whitespace", subj)
		}
		for _, tok := range strings.Split(subj, ".") {
			if tok == "" || tok == "*" || tok == ">" {
				t.Fatalf("subject %q has token %q", subj, tok)
			}
		}
	})
}
