package server_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server"
)

// skewedRequest is a signed rpcutil#ping whose creation time is off the
// local clock by skew (ttl 60 s).
func (r *rig) skewedRequest(tb testing.TB, skew time.Duration) []byte {
	tb.Helper()
	msg, _ := protocol.EncodeRPCRequest("rpcutil", "ping", nil)
	req := &protocol.Request{ID: protocol.NewRequestID(), SenderID: "rip", CallerID: "choria=rip.mcollective",
		Collective: "mcollective", Agent: "rpcutil", TTL: 60, Time: time.Now().Add(skew).Unix(),
		Filter: protocol.NewFilter("rpcutil"), Message: msg}
	raw, err := protocol.EncodeRequest(req)
	if err != nil {
		tb.Fatal(err)
	}
	sig, err := r.client.Sign(raw)
	if err != nil {
		tb.Fatal(err)
	}
	sec, _ := protocol.EncodeSecureRequest(&protocol.SecureRequest{Message: raw, Signature: sig, PubCert: r.client.CertificatePEM()})
	tr, _ := protocol.EncodeTransport(&protocol.Transport{Data: sec, ReplyTo: connector.ReplyTo("mcollective", req.CallerID, req.ID), Sender: "rip"})
	return tr
}

// TestTimeWindowWording checks that a request from the future is
// refused as clock skew with its offset, an old one as too old, and
// both are counted as ttlexpired.
func TestTimeWindowWording(t *testing.T) {
	r := newRig(t, x509.KeyEd25519, nil, nil)
	cases := []struct {
		name string
		skew time.Duration
		want []string
		not  string
	}{
		{"from the future", 2 * time.Minute, []string{"from the future (clock skew?)", "120s ahead of this node's clock", "TTL is 60"}, "too old"},
		{"too old", -2 * time.Minute, []string{"is too old, TTL is 60"}, "future"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := r.node.Process(context.Background(), agentSubject("rpcutil"), r.skewedRequest(t, c.skew))
			if out.Dropped == nil || out.Reply != nil {
				t.Fatalf("not refused: %+v", out)
			}
			if protocol.KindOf(out.Dropped) != protocol.KindTTL {
				t.Errorf("kind %q, want ttl", protocol.KindOf(out.Dropped))
			}
			msg := out.Dropped.Error()
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%q does not say %q", msg, w)
				}
			}
			if strings.Contains(msg, c.not) {
				t.Errorf("%q says %q", msg, c.not)
			}
			if got := r.node.Stats().TTLExpired; got != uint64(i+1) {
				t.Errorf("ttlexpired = %d, want %d", got, i+1)
			}
		})
	}
}

// TestSkewMetric checks tutti_node_request_skew_seconds: accepted and
// refused requests are observed apart, with the sign of the offset
// (request time minus node time).
func TestSkewMetric(t *testing.T) {
	r := newRig(t, x509.KeyEd25519, nil, nil)
	reg := prometheus.NewRegistry()
	r.node.SetMetrics(server.NewMetrics(reg))
	for _, skew := range []time.Duration{0, 10 * time.Second, 2 * time.Minute, -5 * time.Minute} {
		r.node.Process(context.Background(), agentSubject("rpcutil"), r.skewedRequest(t, skew))
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	type obs struct {
		count uint64
		sum   float64
	}
	got := map[string]obs{}
	for _, mf := range mfs {
		if mf.GetName() != "tutti_node_request_skew_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = obs{m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()}
		}
	}
	// whole-second request times and the run's own time make each
	// sample up to ~2 s below its nominal skew
	want := map[string]obs{"accepted": {2, 10}, "refused": {2, 120 - 300}}
	for k, w := range want {
		g := got[k]
		if g.count != w.count || math.Abs(g.sum-w.sum) > 4 {
			t.Errorf("skew{result=%q} = %d samples summing to %.1f s, want %d summing to ~%.0f s", k, g.count, g.sum, w.count, w.sum)
		}
	}
}
