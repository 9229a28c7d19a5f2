package procstat

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// utime 250 and stime 75 ticks; the command name holds ") (" and spaces.
	line := "1234 (tuttid ) (x y) S 1 1234 1234 0 -1 4194304 100 0 0 0 250 75 0 0 20 0 12 0 5 0 0\n"
	got, err := parseStatCPU([]byte(line))
	if err != nil || got != 3250*time.Millisecond {
		t.Fatalf("got %v, %v; want 3.25s", got, err)
	}
	for _, bad := range []string{"", "1234 tuttid S 1", "1 (x) S 1 2 3", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 -5 1"} {
		if _, err := parseStatCPU([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseRSS(t *testing.T) {
	got, err := parseRSS([]byte("Name:\ttuttid\nVmPeak:\t 9000 kB\nVmRSS:\t  2048 kB\nThreads: 9\n"))
	if err != nil || got != 2048<<10 {
		t.Fatalf("got %d, %v", got, err)
	}
	for _, bad := range []string{"Name: x\n", "VmRSS: 12 MB\n", "VmRSS: x kB\n"} {
		if _, err := parseRSS([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParsePeakRSS(t *testing.T) {
	got, err := parseStatusKB([]byte("VmHWM:\t  4096 kB\nVmRSS:\t  2048 kB\n"), "VmHWM")
	if err != nil || got != 4096<<10 {
		t.Fatalf("got %d, %v", got, err)
	}
}

func TestOwnProcess(t *testing.T) {
	rss, err := SelfRSS()
	if err != nil || rss < 1<<20 {
		t.Fatalf("rss %d, %v", rss, err)
	}
	if r, peak, err := RSSAndPeak(os.Getpid()); err != nil || r < 1<<20 || peak < 1<<20 || peak < r {
		t.Fatalf("rss %d, peak %d, %v", r, peak, err)
	}
	c0, err := CPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Spin until the kernel's own account (getrusage) shows 100 ms more
	// CPU, however long a busy machine takes to give it; /proc must agree
	// to within its 10 ms tick.
	r0 := rusageCPU(t)
	for deadline := time.Now().Add(time.Minute); rusageCPU(t)-r0 < 100*time.Millisecond; {
		if time.Now().After(deadline) {
			t.Skip("the machine gave this test no CPU for a minute")
		}
		_ = strings.Repeat("x", 100)
	}
	c1, err := CPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if d := c1 - c0; d < 80*time.Millisecond || d > 10*time.Second {
		t.Fatalf("at least 100 ms of CPU (getrusage) measured as %v from /proc", d)
	}
	if _, err := CPU(-1); err == nil {
		t.Fatal("no error for a process that does not exist")
	}
}

func rusageCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func FuzzParseProc(f *testing.F) {
	f.Add([]byte("1 (a) S 1 1 1 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 5 0 0"))
	f.Add([]byte("VmRSS:\t 12 kB\n"))
	f.Add([]byte("123 456 7\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if d, err := parseStatCPU(b); err == nil && d < 0 {
			t.Fatalf("negative cpu %v", d)
		}
		if v, err := parseRSS(b); err == nil && v < 0 {
			t.Fatalf("negative rss %d", v)
		}
		if d, err := parseSchedstat(b); err == nil && d < 0 {
			t.Fatalf("negative schedstat %v", d)
		}
	})
}

func TestSelfCPUGrows(t *testing.T) {
	start := SelfCPU()
	if start <= 0 {
		t.Skip("SelfCPU is not measured on this platform")
	}
	deadline := time.Now().Add(5 * time.Second)
	for SelfCPU() == start {
		if time.Now().After(deadline) {
			t.Fatal("SelfCPU did not grow after 5s of spinning")
		}
		for i := 0; i < 1e6; i++ {
			_ = strings.Repeat("x", i%3)
		}
	}
}
