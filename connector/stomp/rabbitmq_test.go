package stomp

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/tuttifleet/tutti/connector"
)

func TestMapRabbitMQ(t *testing.T) {
	reply := connector.ReplyTo("mcollective", "choria=anchor.mcollective", "839a99254f3c4a07a050ce6897cef158")
	tests := []struct {
		dest connector.Destination
		name string
	}{
		{connector.Destination{Kind: connector.Broadcast, Collective: "mcollective", Agent: "rpcutil"}, "/exchange/mcollective_broadcast/rpcutil"},
		{connector.Destination{Kind: connector.Service, Collective: "dev", Agent: "aaa_signer"}, "/queue/dev.aaa_signer.service"},
		{connector.Destination{Kind: connector.Directed, Collective: "prod", Identity: "web1.example.net"}, "/exchange/prod_directed/web1.example.net"},
		{connector.Destination{Kind: connector.Reply, ReplyTo: reply}, "/exchange/mcollective_reply/" + reply},
		// the destination spelled out is accepted back
		{connector.Destination{Kind: connector.Reply, ReplyTo: "/exchange/uk-1_reply/uk-1.reply.abc.7"}, "/exchange/uk-1_reply/uk-1.reply.abc.7"},
	}
	for _, tc := range tests {
		got, err := MapRabbitMQ(tc.dest)
		if err != nil {
			t.Errorf("MapRabbitMQ(%+v): %v", tc.dest, err)
			continue
		}
		if got.Name != tc.name || got.Selector() != "" {
			t.Errorf("MapRabbitMQ(%+v) = %q [%q], want %q and no selector", tc.dest, got.Name, got.Selector(), tc.name)
		}
	}
}

func TestMapRabbitMQRefusesWhatChangesTheDestination(t *testing.T) {
	bad := []connector.Destination{
		{Kind: connector.Reply, ReplyTo: "/exchange/a_reply/b.reply.x"},         // another collective's exchange
		{Kind: connector.Reply, ReplyTo: "/exchange/a_broadcast/a.rpcutil"},     // not a reply exchange
		{Kind: connector.Reply, ReplyTo: "/exchange/a_reply/a.reply/x"},         // a path
		{Kind: connector.Reply, ReplyTo: "/temp-queue/mcollective_reply_agent"}, // RabbitMQ rewrites those
		{Kind: connector.Reply, ReplyTo: "/queue/mcollective.reply.x"},
		{Kind: connector.Reply, ReplyTo: "mcollective.reply.#"},
		{Kind: connector.Reply, ReplyTo: "mcollective.reply.*"},
		{Kind: connector.Reply, ReplyTo: "mcollective"},
		{Kind: connector.Reply, ReplyTo: ""},
		{Kind: connector.Directed, Collective: "c", Identity: "web1/x"},
		{Kind: connector.Broadcast, Collective: "c_broadcast/x", Agent: "rpcutil"},
		{Kind: connector.Broadcast, Collective: "c", Agent: "#"},
	}
	for _, d := range bad {
		if got, err := MapRabbitMQ(d); err == nil {
			t.Errorf("MapRabbitMQ(%+v) = %+v, want a refusal", d, got)
		} else if !errors.Is(err, ErrDestination) {
			t.Errorf("MapRabbitMQ(%+v): %v does not wrap ErrDestination", d, err)
		}
	}
}

// FuzzMapRabbitMQ: whatever a reply-to or identity says (both come from
// the network), an accepted destination is one exchange of its own
// collective with one routing key free of topic wildcards, or one queue.
func FuzzMapRabbitMQ(f *testing.F) {
	f.Add("mcollective.reply.1bdb3802b9cdc344e84c6718136cb62a.839a", "web1.example.net")
	f.Add("/exchange/c_reply/c.reply.x", "a-b_c")
	f.Add("/exchange/c_reply/d.reply.x", "#")
	f.Add("a.*", "/")
	exchangeRe := regexp.MustCompile(`^/exchange/([\w\-]+)_(broadcast|directed|reply)/([\w\-]+(\.[\w\-]+)*)$`)
	f.Fuzz(func(t *testing.T, replyTo, identity string) {
		for _, d := range []connector.Destination{
			{Kind: connector.Reply, ReplyTo: replyTo},
			{Kind: connector.Directed, Collective: "c", Identity: identity},
			{Kind: connector.Broadcast, Collective: identity, Agent: replyTo},
			{Kind: connector.Service, Collective: identity, Agent: replyTo},
		} {
			got, err := MapRabbitMQ(d)
			if err != nil {
				continue
			}
			if q, ok := strings.CutPrefix(got.Name, "/queue/"); ok {
				if d.Kind != connector.Service || q != d.Collective+"."+d.Agent+".service" {
					t.Fatalf("MapRabbitMQ(%+v) = %q: a queue for a non-service destination", d, got.Name)
				}
				continue
			}
			m := exchangeRe.FindStringSubmatch(got.Name)
			if m == nil {
				t.Fatalf("MapRabbitMQ(%+v) = %q: not one exchange and routing key", d, got.Name)
			}
			if d.Kind == connector.Reply && !strings.HasPrefix(m[3], m[1]+".") {
				t.Fatalf("MapRabbitMQ(%+v) = %q: reply routed through another collective's exchange", d, got.Name)
			}
		}
	})
}

func TestCanonicalReplyToRabbitMQ(t *testing.T) {
	c := &Conn{cfg: Config{Naming: RabbitMQ}}
	for in, want := range map[string]string{
		"/exchange/mcollective_reply/mcollective.reply.abc.1": "mcollective.reply.abc.1",
		"mcollective.reply.abc.1":                             "mcollective.reply.abc.1",
		"/queue/mcollective.reply.abc.1":                      "/queue/mcollective.reply.abc.1",
	} {
		if got := c.CanonicalReplyTo(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}
