package process

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// pageSize converts rss pages to bytes.
var pageSize = uint64(os.Getpagesize())

// readAll reads every process of procDir, sorted by PID. Processes that
// end while they are read are left out.
func readAll(ctx context.Context, procDir string) ([]Proc, error) {
	entries, err := os.ReadDir(procDir)
	if err != nil {
		return nil, err
	}
	var out []Proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		pr, err := readProc(procDir, pid)
		if err != nil {
			continue
		}
		out = append(out, pr)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out, nil
}

// readProc reads one process from /proc/<pid>/{stat,status,cmdline}.
func readProc(procDir string, pid int) (Proc, error) {
	dir := filepath.Join(procDir, strconv.Itoa(pid))
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return Proc{}, err
	}
	pr, err := parseStat(stat)
	if err != nil {
		return Proc{}, fmt.Errorf("%s/stat: %w", dir, err)
	}
	if pr.PID != pid {
		return Proc{}, fmt.Errorf("%s/stat names PID %d", dir, pr.PID)
	}
	status, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return Proc{}, err
	}
	pr.UID = parseUID(status)
	cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
	if err != nil {
		return Proc{}, err
	}
	pr.Cmdline = strings.TrimSpace(string(bytes.ReplaceAll(bytes.TrimRight(cmdline, "\x00"), []byte{0}, []byte{' '})))
	if pr.Cmdline == "" {
		pr.Cmdline = "[" + pr.Comm + "]"
	}
	return pr, nil
}

// parseStat reads /proc/<pid>/stat: "pid (comm) state ppid …", where comm
// may hold spaces and parentheses (the last ')' ends it).
func parseStat(b []byte) (Proc, error) {
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 1 || end < open {
		return Proc{}, errors.New("no (comm)")
	}
	pid, err := strconv.Atoi(strings.TrimSpace(s[:open]))
	if err != nil || pid <= 0 {
		return Proc{}, fmt.Errorf("bad pid %q", clip(s[:open]))
	}
	f := strings.Fields(s[end+1:])
	// after comm: state(0) ppid(1) … starttime(19) vsize(20) rss(21)
	if len(f) < 22 {
		return Proc{}, fmt.Errorf("%d fields after comm, want at least 22", len(f))
	}
	pr := Proc{PID: pid, Comm: s[open+1 : end], State: f[0]}
	if pr.PPID, err = strconv.Atoi(f[1]); err != nil {
		return Proc{}, fmt.Errorf("ppid: %w", err)
	}
	if pr.StartTime, err = strconv.ParseUint(f[19], 10, 64); err != nil {
		return Proc{}, fmt.Errorf("starttime: %w", err)
	}
	if pr.VSize, err = strconv.ParseUint(f[20], 10, 64); err != nil {
		return Proc{}, fmt.Errorf("vsize: %w", err)
	}
	rss, err := strconv.ParseInt(f[21], 10, 64)
	if err != nil {
		return Proc{}, fmt.Errorf("rss: %w", err)
	}
	if rss > 0 {
		pr.RSS = uint64(rss) * pageSize
	}
	return pr, nil
}

// parseUID returns the real UID of a /proc/<pid>/status (-1 when absent).
func parseUID(status []byte) int {
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				if uid, err := strconv.Atoi(f[0]); err == nil {
					return uid
				}
			}
		}
	}
	return -1
}
