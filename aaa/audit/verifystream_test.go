package audit

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestVerifyStream: chained records of two writers published to the
// audit subjects verify from the stream; a record missing from it is
// named by stream sequence.
func TestVerifyStream(t *testing.T) {
	pki := newChainPKI(t)
	url := startJetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	js, _ := createStream(ctx, t, url, jetstream.StreamConfig{Name: "TUTTI_AUDIT", Subjects: []string{"tutti.audit.node.>", "tutti.aaa.audit.>"}})
	node := sealedChain(t, pki, "node1", "node1")
	aaa := sealedChain(t, pki, "aaa.privileged", "aaa.privileged")
	publish := func(subj string, lines [][]byte) {
		for _, l := range lines {
			if _, err := js.Publish(ctx, subj, l); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish("tutti.audit.node.node1", node[:5])
	publish("tutti.aaa.audit.london", aaa)
	publish("tutti.audit.node.node1", node[6:]) // seq 6 never arrived

	v := NewVerifier(pki.verifier)
	if err := v.ReadStream(ctx, js, "TUTTI_AUDIT"); err != nil {
		t.Fatal(err)
	}
	rep := v.Report()
	if len(rep.Problems) != 1 || rep.Problems[0].Kind != ProblemMissing || rep.Problems[0].Source != "TUTTI_AUDIT" ||
		rep.Problems[0].Line != 14 || rep.Problems[0].Writer != "node1" {
		t.Fatalf("problems %v", rep.Problems)
	}
	if len(rep.Writers) != 2 || rep.Writers[0].Checkpoints != 2 || rep.Lines != 15 {
		t.Fatalf("report %+v", rep)
	}
}
