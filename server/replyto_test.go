package server

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
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
