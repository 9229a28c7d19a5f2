package server

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/tuttifleet/tutti/connector"
)

func TestValidReplyTo(t *testing.T) {
	caller := "choria=rip.mcollective"
	md := md5.Sum([]byte(caller))
	sh := sha256.Sum256([]byte(caller))
	m, s := hex.EncodeToString(md[:]), hex.EncodeToString(sh[:])
	other := md5.Sum([]byte("choria=bob.mcollective"))
	for _, c := range []struct {
		replyTo string
		ok      bool
	}{
		{"mcollective.reply." + m + ".0123", true},
		{"mcollective.reply." + s + ".0123", true},
		{"mcollective.reply." + m + ".a.b", true},
		{"mcollective.reply." + m + ".", false},
		{"mcollective.reply." + m, false},
		{"mcollective.reply." + strings.ToUpper(m) + ".1", false},
		{"mcollective.reply." + hex.EncodeToString(other[:]) + ".1", false},
		{"mcollective.reply." + m[:30] + ".1", false},
		{"other.reply." + m + ".1", false},
		{"mcollectivex.reply." + m + ".1", false},
		{"/queue/mcollective.reply." + m + ".1", false}, // the STOMP connector strips /queue/ first
		{"mcollective.reply.x.1", false},
		{"", false},
	} {
		if got := validReplyTo(c.replyTo, "mcollective", caller); got != c.ok {
			t.Errorf("%q: %v, want %v", c.replyTo, got, c.ok)
		}
	}
}

// Real Choria client requests (the wire captures) pass the strict
// reply-to check and the arrival-subject check.
func TestWireCapturesPassStrictChecks(t *testing.T) {
	f, err := os.ReadFile("../connector/protocol/testdata/wire.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(f)), "\n") {
		var m struct{ Data, Subject string }
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		parts := strings.SplitN(m.Subject, ".", 4)
		var from connector.Destination
		switch {
		case len(parts) == 4 && parts[1] == "broadcast" && parts[2] == "agent":
			from = connector.Destination{Kind: connector.Broadcast, Collective: parts[0], Agent: parts[3]}
		case len(parts) >= 3 && parts[1] == "node":
			from = connector.Destination{Kind: connector.Directed, Collective: parts[0], Identity: strings.SplitN(m.Subject, ".", 3)[2]}
		default:
			continue // a reply
		}
		tr, _, req, err := decodeLayers([]byte(m.Data), 0)
		if err != nil {
			t.Fatalf("%s: %v", m.Subject, err)
		}
		if !validReplyTo(tr.ReplyTo, req.Collective, req.CallerID) {
			t.Errorf("%s: reply-to %q of %s fails strict_reply_to", m.Subject, tr.ReplyTo, req.CallerID)
		}
		if err := checkArrival(from, from.Identity, req); err != nil {
			t.Errorf("%s: %v", m.Subject, err)
		}
		n++
	}
	if n < 4 {
		t.Fatalf("only %d requests in the captures", n)
	}
}
