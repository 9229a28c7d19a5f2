package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/client"
	"github.com/tuttifleet/tutti/connector/protocol"
)

// renderRPC prints replies of agent#action as rpc's human output.
func renderRPC(t *testing.T, agent, action string, nodes int, missing []string, replies ...client.Result) string {
	t.Helper()
	var b bytes.Buffer
	o := newRPCOutput(&b, humanOutput, agent, action, nodes)
	for _, r := range replies {
		o.reply(r)
	}
	sum := client.BatchSummary{RequestIDs: []string{"a1b2c3"}}
	sum.RequestID, sum.Missing, sum.Elapsed = "a1b2c3", missing, 1234567*time.Microsecond
	if err := o.finish(&sum); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// The human output of rpc rpcutil inventory: the DDL's labels in its
// order, the facts hash indented, the agents list wrapped.
func TestRPCInventoryGolden(t *testing.T) {
	inv := `{"agents":["discovery","rpcutil","service","nagios_checks","package_manager","puppet_runner","filemgr","process_list","network_probe"],
		"facts":{"role":"web","os":{"family":"debian","release":"12"},"node_number":1,"tags":["a","b"],"empty":{}},
		"classes":["base","role::web"],"version":"0.9.0","main_collective":"mcollective","collectives":["mcollective"],
		"data_plugins":[]}`
	denied := fakeReply("db1.example.net", 4*time.Millisecond, protocol.Aborted, protocol.NotAuthorizedMsg, `{}`)
	out := renderRPC(t, "rpcutil", "inventory", 3, []string{"web9.example.net"},
		fakeReply("web1.example.net", 8*time.Millisecond, protocol.OK, "OK", inv), denied)
	golden(t, "rpc_rpcutil_inventory.txt", out)
}

// A fact a node does not have is missing, in the reply and the summary.
func TestRPCGetFactMissingGolden(t *testing.T) {
	ms := time.Millisecond
	out := renderRPC(t, "rpcutil", "get_fact", 3, nil,
		fakeReply("web1.example.net", 8*ms, protocol.OK, "OK", `{"fact":"os.family","value":null}`),
		fakeReply("web2.example.net", 8*ms, protocol.OK, "OK", `{"fact":"os.family","value":null}`),
		fakeReply("web3.example.net", 8*ms, protocol.OK, "OK", `{"fact":"os.family","value":"debian"}`))
	golden(t, "rpc_get_fact_missing.txt", out)
	if strings.Contains(out, "=2") || !strings.Contains(out, "Value: (missing)") {
		t.Fatalf("missing fact:\n%s", out)
	}
}

func TestPingHumanGolden(t *testing.T) {
	var b bytes.Buffer
	replies := []pingReply{{Sender: "web1.example.net", RTTms: 1.25, State: client.Verified},
		{Sender: "choria1.example.net", RTTms: 3.5, State: client.Unsigned}}
	for _, r := range replies {
		printPingLine(&b, r)
	}
	sum := &client.Summary{RequestID: "a1b2c3", Unsigned: 1, Elapsed: 502 * time.Millisecond}
	printPingSummary(&b, replies, nil, sum)
	golden(t, "ping.txt", b.String())
}

func TestColours(t *testing.T) {
	if newColours(&bytes.Buffer{}).on {
		t.Fatal("colour on a buffer")
	}
	c := colours{on: true}
	if got := countsLine(c, 2, 1, 0); got != "\x1b[32m2 OK\x1b[0m, \x1b[31m1 failed\x1b[0m, 0 no reply" {
		t.Fatalf("%q", got)
	}
	if got := countsLine(colours{}, 2, 1, 0); got != "2 OK, 1 failed, 0 no reply" {
		t.Fatalf("%q", got)
	}
}

func TestWrapList(t *testing.T) {
	items := strings.Fields(strings.Repeat("abcdefghij ", 20))
	got := wrapList(items, 20)
	for i, l := range strings.Split(got, "\n") {
		w := len(l) // later lines carry their indentation
		if i == 0 {
			w += 20
		}
		if w > wrapWidth || i > 0 && !strings.HasPrefix(l, strings.Repeat(" ", 20)+"a") {
			t.Fatalf("line %d is %d wide:\n%s", i, w, got)
		}
	}
	if strings.Count(got, "abcdefghij") != 20 {
		t.Fatalf("lost items:\n%s", got)
	}
}
