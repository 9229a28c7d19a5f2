package bench

import (
	"strings"
	"testing"
)

func TestPlanSpreadsNodes(t *testing.T) {
	for _, c := range []struct {
		n, brokers, perProc int
		onClient            bool
		want                []shard
	}{
		{10, 1, 100, false, []shard{{0, 0, 10}}},
		{10, 3, 100, false, []shard{{1, 0, 5}, {2, 5, 5}}},
		{10, 3, 100, true, []shard{{0, 0, 4}, {1, 4, 3}, {2, 7, 3}}},
		{7, 2, 3, false, []shard{{1, 0, 3}, {1, 3, 2}, {1, 5, 2}}},
		{2, 4, 10, false, []shard{{1, 0, 1}, {2, 1, 1}}}, // fewer nodes than brokers
	} {
		got := plan(c.n, c.brokers, c.onClient, c.perProc)
		if len(got) != len(c.want) {
			t.Errorf("%+v: got %v", c, got)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%+v: got %v", c, got)
				break
			}
		}
	}
}

func TestPlanFleetNamesTheLimit(t *testing.T) {
	o := &Options{Brokers: 3, Audit: "file"}
	shards, err := planFleet(o, 50000, 20000)
	if err == nil || !strings.Contains(err.Error(), "RLIMIT_NOFILE") || !strings.Contains(err.Error(), "25000 connections") {
		t.Fatalf("client alone: %v %v", shards, err)
	}
	o.NodesOnClientBroker = true
	if shards, err = planFleet(o, 50000, 20000); err != nil || len(shards) != 3 {
		t.Fatalf("nodes on every broker: %v %v", shards, err)
	}
	// each emulator within the limit: a node's connection and three
	// spool files with the stream, over as many emulators as that takes;
	// the broker holds one connection a node (audit goes over it)
	o = &Options{Brokers: 1, Audit: "stream"}
	shards, err = planFleet(o, 10000, 20000)
	if err != nil || len(shards) != 3 {
		t.Fatalf("10,000 nodes with the stream: %v %v", shards, err)
	}
	for _, s := range shards {
		if s.count*filesPerNode(o) > 20000-fdReserve {
			t.Fatalf("an emulator past the limit: %v", shards)
		}
	}
	if shards, err = planFleet(o, 20000, 20000); err == nil {
		t.Fatalf("20,000 connections on one broker: %v", shards)
	}
	o.Audit = "file"
	if shards, err = planFleet(o, 10000, 20000); err != nil || len(shards) != 1 {
		t.Fatalf("10,000 nodes: %v %v", shards, err)
	}
	o.SharedConn = true
	if shards, err = planFleet(o, 100000, 2000); err != nil || len(shards) != 1 {
		t.Fatalf("shared connection: %v %v", shards, err)
	}
}

func TestSharedNodesMatchFirstNodes(t *testing.T) {
	o := &Options{Brokers: 3, Audit: "file", SharedConn: true, Nodes: []int{10}}
	if got := sharedNodes(o); got != "^emu-0*(1|6)$" {
		t.Fatalf("got %q", got)
	}
}
