package main

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/tuttifleet/tutti/aaa/signer/signertest"
)

func TestBench(t *testing.T) {
	e := signertest.Start(t, signertest.Options{})
	tok := e.WriteToken(t, "bob")
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := execute(context.Background(), append([]string{"bench", "--ca", e.CAFile, "--token-file", tok}, args...), nil, &out, &errb)
		return code, out.String(), errb.String()
	}
	// The service runs in this process: its CPU is ours, but it is read.
	code, out, errs := run("--url", e.URL, "--requests", "40", "--concurrency", "4", "--service-pid", strconv.Itoa(os.Getpid()))
	if code != 0 || !strings.Contains(out, "40 signs in") || !strings.Contains(out, "service CPU") ||
		!strings.Contains(out, e.URL+"/choria/v1/sign, concurrency 4") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--url", e.URL, "--agent", "service", "--action", "restart", "--requests", "5"}, "not_allowed"},
		{[]string{"--url", "ftp://x", "--requests", "5"}, "is not an http(s) URL"},
		{[]string{"--url", e.URL, "--requests", "5", "--concurrency", "0"}, "--concurrency must be positive"},
	} {
		code, _, errs := run(tc.args...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, errs, tc.want)
		}
	}
	// TLS stays verified: without the test CA the system roots refuse it.
	var out2, errb bytes.Buffer
	if code := execute(context.Background(), []string{"bench", "--url", e.URL, "--token-file", tok, "--requests", "1"}, nil, &out2, &errb); code == 0 ||
		!strings.Contains(errb.String(), "certificate") {
		t.Fatalf("unverified TLS: exit %d, %s", code, errb.String())
	}
}
