// Package procstat reads a process's CPU time and resident memory from
// /proc (Linux): what the fleet benchmark and the signer load generator
// measure.
package procstat

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, the unit of /proc/<pid>/stat's CPU times. It is
// 100 on every Linux architecture Go supports.
const clockTick = 100

// maxProcValue bounds the numbers read from /proc (kB, ticks) far above
// anything real, so conversions cannot overflow.
const maxProcValue = 1 << 40

// SelfRSS is this process's resident set size (VmRSS) in bytes.
func SelfRSS() (int64, error) { return RSS(os.Getpid()) }

// RSS is process pid's resident set size (VmRSS of /proc/<pid>/status)
// in bytes.
func RSS(pid int) (int64, error) {
	b, err := status(pid)
	if err != nil {
		return 0, err
	}
	return parseRSS(b)
}

// RSSAndPeak is RSS and the peak resident set size so far (VmHWM) from
// one read of /proc/<pid>/status; the peak is at least the RSS (the
// kernel's two counters are kept apart and may differ by a few pages at
// one read).
func RSSAndPeak(pid int) (rss, peak int64, err error) {
	b, err := status(pid)
	if err != nil {
		return 0, 0, err
	}
	if rss, err = parseRSS(b); err != nil {
		return 0, 0, err
	}
	if peak, err = parseStatusKB(b, "VmHWM"); err != nil {
		return 0, 0, err
	}
	return rss, max(rss, peak), nil
}

// status reads /proc/<pid>/status.
func status(pid int) ([]byte, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, fmt.Errorf("read rss: %w", err)
	}
	return b, nil
}

func parseRSS(status []byte) (int64, error) { return parseStatusKB(status, "VmRSS") }

// parseStatusKB reads the field key (a size in kB) of a
// /proc/<pid>/status file, in bytes.
func parseStatusKB(status []byte, key string) (int64, error) {
	for _, line := range bytes.Split(status, []byte("\n")) {
		rest, ok := bytes.CutPrefix(line, []byte(key+":"))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("unexpected %s line %q", key, line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kb < 0 || kb > maxProcValue {
			return 0, fmt.Errorf("malformed %s %q", key, f[0])
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("no %s line in status", key)
}

// CPU is the CPU time process pid has used so far, all threads, user
// and system. It adds up the nanosecond run times of
// /proc/<pid>/task/*/schedstat; where schedstat is missing it falls back
// to utime + stime of /proc/<pid>/stat (10 ms resolution). Threads that
// exited are counted only by the fallback; Go programs keep theirs.
func CPU(pid int) (time.Duration, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err == nil {
		var total time.Duration
		for _, t := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					continue // the thread exited meanwhile
				}
				return statCPU(pid)
			}
			ns, err := parseSchedstat(b)
			if err != nil {
				return 0, err
			}
			total += ns
		}
		return total, nil
	}
	return statCPU(pid)
}

func statCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read cpu time: %w", err)
	}
	return parseStatCPU(b)
}

// parseSchedstat reads the first field of a schedstat line: time spent
// on the CPU, in nanoseconds.
func parseSchedstat(b []byte) (time.Duration, error) {
	f := strings.Fields(string(b))
	if len(f) < 1 {
		return 0, errors.New("empty schedstat")
	}
	ns, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || ns < 0 || ns > maxProcValue*1e6 {
		return 0, fmt.Errorf("malformed schedstat %q", b)
	}
	return time.Duration(ns), nil
}

// parseStatCPU reads fields 14 (utime) and 15 (stime) of a stat line.
// The command name (field 2) is in parentheses and may hold spaces and
// parentheses itself, so fields are counted after its last ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("malformed stat line: no command name")
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("malformed stat line: %d fields after the command name", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 0 || v > maxProcValue {
			return 0, fmt.Errorf("malformed stat line: cpu field %q", s)
		}
		ticks += v
	}
	return time.Duration(ticks) * (time.Second / clockTick), nil
}
