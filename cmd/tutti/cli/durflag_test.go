package cli

import (
	"errors"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestSecondsFlag(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"5", 5 * time.Second, true},
		{"0.5", 500 * time.Millisecond, true},
		{" 2 ", 2 * time.Second, true},
		{"5s", 5 * time.Second, true},
		{"500ms", 500 * time.Millisecond, true},
		{"1m", time.Minute, true},
		{"1m30s", 90 * time.Second, true},
		{"0", 0, true},
		{"-1", 0, false},
		{"-1s", 0, false},
		{"5x", 0, false},
		{"", 0, false},
		{"0x10", 0, false},
		{"NaN", 0, false},
	} {
		fl := pflag.NewFlagSet("t", pflag.ContinueOnError)
		var d time.Duration
		durationVar(fl, &d, "timeout", "t", 7*time.Second, "")
		if d != 7*time.Second {
			t.Fatalf("default not set: %s", d)
		}
		err := fl.Parse([]string{"--timeout", tt.in})
		if (err == nil) != tt.ok || (tt.ok && d != tt.want) {
			t.Errorf("--timeout %q = %s, %v; want %s ok=%v", tt.in, d, err, tt.want, tt.ok)
		}
	}
	fl := pflag.NewFlagSet("t", pflag.ContinueOnError)
	var d time.Duration
	durationVar(fl, &d, "timeout", "t", 0, "")
	if err := fl.Parse([]string{"-t", "3"}); err != nil || d != 3*time.Second {
		t.Errorf("-t 3 = %s, %v", d, err)
	}
	if got := fl.Lookup("timeout").DefValue; got != "0" {
		t.Errorf("zero default renders as %q, want 0 (no \"(default 0s)\" in help)", got)
	}
}

func TestFlagAliasHint(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"unknown shorthand flag: 'd' in -dt", "--dt"},
		{"unknown shorthand flag: 'w' in -wf=role=web", "--wf"},
		{"unknown shorthand flag: 'x' in -xy", ""},
		{"unknown flag: --nope", ""},
	} {
		got := flagHint(errors.New(tt.in)).Error()
		if tt.want == "" && got != tt.in {
			t.Errorf("%q became %q", tt.in, got)
		}
		if tt.want != "" && got != tt.in+" (multi-letter flags take two dashes: "+tt.want+")" {
			t.Errorf("%q became %q", tt.in, got)
		}
	}
}

func TestNearestName(t *testing.T) {
	known := []string{"discovery", "rpcutil", "service"}
	for in, want := range map[string]string{
		"rpcutl": "rpcutil", "rpcutill": "rpcutil", "servce": "service", "rpcutil": "rpcutil",
		"nginx": "", "zz": "", "mycustom": "", "sv": "",
	} {
		if got := nearestName(in, known); got != want {
			t.Errorf("nearestName(%q) = %q, want %q", in, got, want)
		}
	}
}
