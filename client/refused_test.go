package client

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

// A refused reply is handed on and listed in the summary, but it is not
// a node that answered: a target it claims to be stays missing, it is
// not unexpected, and it does not count towards Expect.
func TestWaitKeepsRefusedRepliesApart(t *testing.T) {
	var logs bytes.Buffer
	l := logrus.New()
	l.SetOutput(&logs)
	c := &Client{o: Options{Log: logrus.NewEntry(l)}}
	col := newCollector(c, newRequestIDs([]string{"req1"}), []string{"web1", "web2"})
	in := []Result{
		{Sender: "web2", State: Failed, Reason: ReasonUnsigned, Err: errors.New("not signed")},
		{Sender: "ghost", State: Failed, Reason: ReasonName, Err: errors.New(`signed by a certificate valid for "web1"`)},
		{Sender: "web1", State: Verified},
		{Sender: "choria1", State: Unsigned},
	}
	for _, r := range in {
		col.results <- r
	}
	var got []string
	sum := &Summary{}
	col.wait(context.Background(), sum, 200*time.Millisecond, 50*time.Millisecond, 2, func(r Result) { got = append(got, r.Sender) })
	if len(got) != 4 {
		t.Fatalf("every reply must be handed on, got %v", got)
	}
	if sum.Failed != 2 || len(sum.Refused) != 2 || sum.Refused[0].Sender != "web2" || sum.Refused[1].Reason != ReasonName {
		t.Fatalf("refused: %d %+v", sum.Failed, sum.Refused)
	}
	if !slices.Equal(sum.Missing, []string{"web2"}) {
		t.Fatalf("web2 only sent a refused reply and must be missing: %v", sum.Missing)
	}
	if !slices.Equal(sum.Unexpected, []string{"choria1"}) {
		t.Fatalf("a refused reply is no unexpected node: %v", sum.Unexpected)
	}
	if sum.Unsigned != 1 || !slices.Equal(sum.UnsignedFrom, []string{"choria1"}) {
		t.Fatalf("unsigned: %d %v", sum.Unsigned, sum.UnsignedFrom)
	}
	for _, want := range []string{`sender=web2`, `reason=unsigned`, `sender=ghost`, `reason="certificate name mismatch"`, "reply refused"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs.String())
		}
	}
}
