package loadgen

import (
	"strings"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// utime 250 and stime 50 ticks; the command name holds ") (" and spaces.
	line := "4242 (tutti ) (aaa) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 50 0 0 20 0 9 0 100 1000 200 18446744073709551615"
	got, err := parseStatCPU(line)
	if err != nil || got != 3*time.Second {
		t.Fatalf("parseStatCPU = %v, %v; want 3s", got, err)
	}
	for _, bad := range []string{"", "4242 tutti S 1", "1 (x) S 1 2 3", "1 (x) S 1 2 3 4 5 6 7 8 9 10 -5 1 0",
		"1 (x) S 1 2 3 4 5 6 7 8 9 10 x 1 0", "1 (x) S 1 2 3 4 5 6 7 8 9 10 9000000000000000000 1 0"} {
		if _, err := parseStatCPU(bad); err == nil {
			t.Errorf("parseStatCPU(%q) accepted", bad)
		}
	}
}

func FuzzParseStatCPU(f *testing.F) {
	f.Add("1 (a) S 1 2 3 4 5 6 7 8 9 10 11 12 13")
	f.Add("1 (a) b) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15")
	f.Fuzz(func(t *testing.T, line string) {
		d, err := parseStatCPU(line)
		if err == nil && d < 0 {
			t.Fatalf("negative CPU time %v from %q", d, line)
		}
		if err == nil && !strings.Contains(line, ")") {
			t.Fatalf("accepted a line without a command name: %q", line)
		}
	})
}
