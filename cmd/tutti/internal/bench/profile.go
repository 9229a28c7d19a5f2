package bench

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"
)

// ProfileFlag is the bench-worker flag naming where a worker writes the
// CPU profiles of the measured runs (--profile).
const ProfileFlag = "profile-prefix"

// GOGCFlag is the emulator bench-worker's flag setting its garbage
// collection target (--emulator-gogc).
const GOGCFlag = "gogc"

// ProfileOnSignal runs until ctx ends and toggles a CPU profile on every
// SIGUSR2: the k-th window is written to prefix.<k>.pprof, and a heap
// profile at its end to prefix.<k>.heap.pprof, and the runtime's memory
// classes at its end and after a collection to prefix.<k>.mem.txt. The bench
// sends it around the measured runs, so a profile holds those and not
// the startup.
func ProfileOnSignal(ctx context.Context, prefix string) {
	if prefix == "" {
		return
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR2)
	go func() {
		defer signal.Stop(ch)
		var f *os.File
		k := 0
		stop := func() {
			if f == nil {
				return
			}
			pprof.StopCPUProfile()
			_ = f.Close()
			f = nil
			now := readMem()
			// and what the process holds at the end of the runs
			h, err := os.Create(prefix + "." + strconv.Itoa(k) + ".heap.pprof")
			if err != nil {
				fmt.Fprintln(os.Stderr, "profile:", err)
				return
			}
			runtime.GC()
			_ = pprof.Lookup("heap").WriteTo(h, 0)
			_ = h.Close()
			if err := dumpMem(prefix+"."+strconv.Itoa(k)+".mem.txt", now); err != nil {
				fmt.Fprintln(os.Stderr, "profile:", err)
			}
		}
		defer stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ch:
			}
			if f != nil {
				stop()
				continue
			}
			k++
			var err error
			if f, err = os.Create(prefix + "." + strconv.Itoa(k) + ".pprof"); err != nil {
				fmt.Fprintln(os.Stderr, "profile:", err)
				continue
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				fmt.Fprintln(os.Stderr, "profile:", err)
				_ = f.Close()
				f = nil
			}
		}
	}()
}

// profiler toggles the CPU profiles of the workers and of this process
// (the client) around the measured runs of one fleet size.
type profiler struct {
	dir string
	f   *os.File
	// since is when this fleet size's profiling began; want counts the
	// workers' windows stopped since, each ending in a .mem.txt file.
	since time.Time
	want  int
}

func (p *profiler) start(nodes int, ws []*worker) error {
	if p == nil || p.dir == "" {
		return nil
	}
	for _, w := range ws {
		if err := w.cmd.Process.Signal(syscall.SIGUSR2); err != nil {
			return err
		}
	}
	f, err := os.Create(fmt.Sprintf("%s/client.n%d.pprof", p.dir, nodes))
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return err
	}
	p.f = f
	return nil
}

func (p *profiler) stop(ws []*worker) error {
	if p == nil || p.f == nil {
		return nil
	}
	pprof.StopCPUProfile()
	err := p.f.Close()
	p.f = nil
	for _, w := range ws {
		if e := w.cmd.Process.Signal(syscall.SIGUSR2); e != nil && err == nil {
			err = e
		}
	}
	p.want += len(ws)
	return err
}

// written waits until every worker whose window stop ended has written
// its profiles (the .mem.txt file comes last), so none is stopped while
// writing them; at most profileWait.
func (p *profiler) written(ctx context.Context) error {
	if p == nil || p.dir == "" || p.want == 0 {
		return nil
	}
	deadline := time.Now().Add(profileWait)
	for {
		got := 0
		files, _ := filepath.Glob(filepath.Join(p.dir, "*.mem.txt"))
		for _, f := range files {
			if fi, err := os.Stat(f); err == nil && !fi.ModTime().Before(p.since) {
				got++
			}
		}
		if got >= p.want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("profiles: %d of %d workers wrote their memory classes to %s within %s", got, p.want, p.dir, profileWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// profileWait bounds how long the bench waits for the workers' profiles.
const profileWait = time.Minute
