package client

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/security/x509"
)

// TestClockSkewHint checks that a reply whose node time is far from the
// client's clock is logged as clock skew with the node, the offset and
// its direction, and that nodes in step (whole-second reply times,
// transit) and refused replies are not.
func TestClockSkewHint(t *testing.T) {
	var logs bytes.Buffer
	l := logrus.New()
	l.SetOutput(&logs)
	c := &Client{o: Options{Log: logrus.NewEntry(l)}}
	col := newCollector(c, newRequestIDs([]string{"req1"}), nil)
	now := time.Unix(1_800_000_000, 900_000_000)
	at := func(sender string, skew time.Duration, state VerifyState) Result {
		return Result{Sender: sender, State: state, Received: now, NodeTime: now.Add(skew).Truncate(time.Second)}
	}
	in := []Result{
		at("insync", -200*time.Millisecond, Verified), // reads 1.1 s behind: truncation and transit
		at("slightly", 4*time.Second, Verified),
		at("ahead", 30*time.Second, Verified),
		at("behind", -2*time.Minute, Unsigned),
		{Sender: "refused", State: Failed, Reason: ReasonSignature, Err: errors.New("bad"), Received: now, NodeTime: now.Add(time.Hour)},
		{Sender: "undated", State: Verified, Received: now},
	}
	for _, r := range in {
		col.results <- r
	}
	col.wait(context.Background(), &Summary{}, 200*time.Millisecond, 50*time.Millisecond, len(in)-1, nil)
	out := logs.String()
	for _, want := range []string{
		"clock skew: node ahead is 30s ahead of this client's clock", "skew_seconds=30",
		"clock skew: node behind is 120s behind this client's clock", "skew_seconds=-120", "request=req1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	for _, quiet := range []string{"node insync", "node slightly", "node refused", "node undated"} {
		if strings.Contains(out, quiet) {
			t.Errorf("log warns of %q:\n%s", quiet, out)
		}
	}
	if n := strings.Count(out, "clock skew"); n != 2 {
		t.Errorf("%d skew warnings, want 2:\n%s", n, out)
	}
}

// TestVerifyKeepsNodeTime checks that a verified reply carries the
// node's time from the signed reply.
func TestVerifyKeepsNodeTime(t *testing.T) {
	r := newReplyRig(t, x509.KeyECDSA)
	res, ok := r.c.verify(newRequestIDs([]string{r.id}), r.reply(t, "node1.example.net", "node1.example.net", true, false))
	if !ok || res.State != Verified {
		t.Fatalf("not verified: %+v", res)
	}
	if !res.NodeTime.Equal(time.Unix(1, 0)) {
		t.Errorf("NodeTime %v, want the reply's time 1", res.NodeTime)
	}
}
