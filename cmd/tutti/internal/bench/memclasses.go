package bench

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"strings"

	"github.com/tuttifleet/tutti/internal/procstat"
)

// memSample is one reading of the Go runtime's memory classes, the
// collector's settings and the process's RSS.
type memSample struct {
	rss        int64
	goroutines int
	values     map[string]uint64
}

// memMetric reports whether name is read into a memSample: every
// /memory/classes/ figure, and the collector's goal, live heap and
// settings (the headroom above the live heap is the collector's).
func memMetric(name string) bool {
	switch name {
	case "/gc/heap/goal:bytes", "/gc/heap/live:bytes", "/gc/gogc:percent", "/gc/gomemlimit:bytes",
		"/gc/cycles/total:gc-cycles", "/gc/stack/starting-size:bytes":
		return true
	}
	return strings.HasPrefix(name, "/memory/classes/")
}

func readMem() memSample {
	var samples []metrics.Sample
	for _, d := range metrics.All() {
		if d.Kind == metrics.KindUint64 && memMetric(d.Name) {
			samples = append(samples, metrics.Sample{Name: d.Name})
		}
	}
	metrics.Read(samples)
	s := memSample{goroutines: runtime.NumGoroutine(), values: make(map[string]uint64, len(samples))}
	s.rss, _ = procstat.SelfRSS()
	for _, m := range samples {
		s.values[m.Name] = m.Value.Uint64()
	}
	return s
}

// writeMemClasses writes the samples side by side, one metric a line,
// with the RSS and the goroutines first: what the process holds, class
// by class (heap objects, free heap not yet returned, goroutine stacks,
// runtime metadata), beside its RSS.
func writeMemClasses(w io.Writer, heads []string, ss []memSample) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%-44s", "")
	for _, h := range heads {
		fmt.Fprintf(&b, " %16s", h)
	}
	b.WriteString("\n")
	row := func(name string, v func(memSample) uint64) {
		fmt.Fprintf(&b, "%-44s", name)
		for _, s := range ss {
			fmt.Fprintf(&b, " %16d", v(s))
		}
		b.WriteString("\n")
	}
	row("VmRSS:bytes", func(s memSample) uint64 { return uint64(max(0, s.rss)) })
	row("goroutines", func(s memSample) uint64 { return uint64(s.goroutines) })
	var names []string
	for _, d := range metrics.All() {
		if _, ok := ss[0].values[d.Name]; ok {
			names = append(names, d.Name)
		}
	}
	for _, n := range names {
		row(n, func(s memSample) uint64 { return s.values[n] })
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// dumpMem writes path with the memory classes read at the end of the
// runs (now) and again after the collection of the heap profile (free
// heap is then not yet returned to the OS: the bench reads the RSS
// meanwhile).
func dumpMem(path string, now memSample) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = writeMemClasses(f, []string{"after runs", "after GC"}, []memSample{now, readMem()})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
