package cli

import (
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progressDelay is how long a request runs before its progress bar
// appears: short requests finish without drawing one.
const progressDelay = time.Second

// isTerminalOut reports whether w is a terminal.
func isTerminalOut(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress is a progress bar on the terminal for a request to total
// nodes. A nil *progress draws nothing, so callers need not check.
type progress struct {
	mu     sync.Mutex
	w      io.Writer
	total  int
	label  string
	count  int
	bar    *progressbar.ProgressBar
	timer  *time.Timer
	closed bool
}

// newProgress returns a bar drawn on w after delay, or nil when the bar is
// not wanted: --no-progress, stdout or w not a terminal, or a single node.
func newProgress(stdout, w io.Writer, noProgress bool, total int, label string) *progress {
	if noProgress || total < 2 || !isTerminalOut(stdout) || !isTerminalOut(w) {
		return nil
	}
	return startProgress(w, total, label, progressDelay)
}

func startProgress(w io.Writer, total int, label string, delay time.Duration) *progress {
	p := &progress{w: w, total: total, label: label}
	p.timer = time.AfterFunc(delay, p.show)
	return p
}

func (p *progress) show() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.bar != nil {
		return
	}
	p.bar = progressbar.NewOptions(p.total, progressbar.OptionSetWriter(p.w), progressbar.OptionSetDescription(p.label),
		progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(false), progressbar.OptionSetElapsedTime(false),
		progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish(), progressbar.OptionSetWidth(30))
	_ = p.bar.Set(p.count)
}

// add counts one reply.
func (p *progress) add() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.count++
	if p.bar != nil {
		_ = p.bar.Set(p.count)
	}
}

// done removes the bar before the results are printed.
func (p *progress) done() {
	if p == nil {
		return
	}
	p.timer.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.bar != nil {
		_ = p.bar.Exit()
		_ = p.bar.Clear()
	}
}
