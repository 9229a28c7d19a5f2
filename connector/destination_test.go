package connector

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestCheckNames(t *testing.T) {
	tests := []struct {
		name   string
		dest   Destination
		reason string // "" when accepted
	}{
		{"broadcast", Destination{Kind: Broadcast, Collective: "uk_dc-1", Agent: "choria_util"}, ""},
		{"service", Destination{Kind: Service, Collective: "mcollective", Agent: "aaa_signer"}, ""},
		{"directed", Destination{Kind: Directed, Collective: "mcollective", Identity: "node001.choria.local"}, ""},
		{"reply not checked here", Destination{Kind: Reply, ReplyTo: "a b>"}, ""},
		{"agent upper case", Destination{Kind: Broadcast, Collective: "c", Agent: "RPC"}, "broadcast agent"},
		{"agent with dot", Destination{Kind: Service, Collective: "c", Agent: "a.b"}, "service agent"},
		{"agent empty", Destination{Kind: Broadcast, Collective: "c"}, "agent"},
		{"collective with dot", Destination{Kind: Broadcast, Collective: "a.b", Agent: "x"}, "collective"},
		{"collective wildcard", Destination{Kind: Service, Collective: "*", Agent: "x"}, "collective"},
		{"collective empty", Destination{Kind: Directed, Identity: "n"}, "collective"},
		{"identity wildcard", Destination{Kind: Directed, Collective: "c", Identity: "n.>"}, "identity"},
		{"identity quote", Destination{Kind: Directed, Collective: "c", Identity: "x' OR '1"}, "identity"},
		{"identity leading dot", Destination{Kind: Directed, Collective: "c", Identity: ".n"}, "empty name part"},
		{"identity double dot", Destination{Kind: Directed, Collective: "c", Identity: "a..b"}, "empty name part"},
		{"identity trailing dot", Destination{Kind: Directed, Collective: "c", Identity: "a."}, "empty name part"},
		{"unknown kind", Destination{Kind: 42, Collective: "c", Agent: "a"}, "unknown kind"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.dest.CheckNames()
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("CheckNames(%+v): %v", tc.dest, err)
				}
				return
			}
			if !errors.Is(err, ErrDestination) || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("CheckNames(%+v) = %v, want ErrDestination saying %q", tc.dest, err, tc.reason)
			}
		})
	}
}

// FuzzCheckNames: an accepted name is one address element (collective,
// agent) or dot-separated non-empty elements (identity) of word
// characters and '-' only.
func FuzzCheckNames(f *testing.F) {
	f.Add("mcollective", "rpcutil", "web1.example.net")
	f.Add("a.b", "*", "a..b")
	f.Add("c", "x y", "x' OR '1")
	element := regexp.MustCompile(`^[A-Za-z0-9_\-]+$`)
	f.Fuzz(func(t *testing.T, collective, agent, identity string) {
		if (Destination{Kind: Broadcast, Collective: collective, Agent: agent}).CheckNames() == nil {
			if !element.MatchString(collective) || !element.MatchString(agent) || strings.ToLower(agent) != agent || strings.Contains(agent, "-") {
				t.Fatalf("accepted collective %q agent %q", collective, agent)
			}
		}
		if (Destination{Kind: Directed, Collective: "c", Identity: identity}).CheckNames() == nil {
			for _, part := range strings.Split(identity, ".") {
				if !element.MatchString(part) {
					t.Fatalf("accepted identity %q (part %q)", identity, part)
				}
			}
		}
	})
}

func TestReplyTo(t *testing.T) {
	tests := []struct {
		collective, caller, id, want string
	}{
		{"mcollective", "choria=anchor.mcollective", "839a99254f3c4a07a050ce6897cef158", "mcollective.reply.1bdb3802b9cdc344e84c6718136cb62a.839a99254f3c4a07a050ce6897cef158"},
		{"uk", "up=bob", "1", "uk.reply.72dc525f8fe0064c0372c1fb3d729560.1"},
	}
	for _, tc := range tests {
		if got := ReplyTo(tc.collective, tc.caller, tc.id); got != tc.want {
			t.Errorf("ReplyTo = %q, want %q", got, tc.want)
		}
		if p := ReplyPrefix(tc.collective, tc.caller); !strings.HasPrefix(tc.want, p) || !strings.HasSuffix(p, ".") {
			t.Errorf("ReplyPrefix = %q, not a prefix of %q ending in '.'", p, tc.want)
		}
	}
}
