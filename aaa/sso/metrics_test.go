package sso_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tuttifleet/tutti/aaa/sso"
)

// A device login and refusals of either flow move the login counter,
// by flow, result and reason.
func TestMetricsCountLogins(t *testing.T) {
	r := newRig(t, nil, nil, nil)
	reg := prometheus.NewRegistry()
	reg.MustRegister(r.metrics.Collectors()...)
	if _, err := r.deviceLogin(t, "bob"); err != nil {
		t.Fatal(err)
	}
	_, err := r.deviceLogin(t, "mallory")
	refusal(t, err, "no_entitlement")
	_, _, err = r.a.Exchange(context.Background(), "no-such-session", "state", "code", "verifier")
	refusal(t, err, "unknown_session")

	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || mfs[0].GetName() != "tutti_aaa_sso_login_total" {
		t.Fatalf("gathered %v, %v", mfs, err)
	}
	got := map[string]float64{}
	for _, m := range mfs[0].GetMetric() {
		key := ""
		for _, l := range m.GetLabel() {
			key += l.GetName() + "=" + l.GetValue() + " "
		}
		got[key] = m.GetCounter().GetValue()
	}
	want := map[string]float64{
		"flow=" + sso.FlowDevice + " reason=ok result=ok ":                    1,
		"flow=" + sso.FlowDevice + " reason=no_entitlement result=refused ":   1,
		"flow=" + sso.FlowBrowser + " reason=unknown_session result=refused ": 1,
		"flow=" + sso.FlowBrowser + " reason=ok result=ok ":                   0, // present at zero
	}
	if len(got) != len(want) {
		t.Errorf("series %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s= %v, want %v (all %v)", k, got[k], v, got)
		}
	}
}
