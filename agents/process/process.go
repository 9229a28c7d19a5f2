// Package process is the process agent: list processes matching a
// pattern, and signal one process or every process matching a pattern.
//
// list has the name, inputs and output of Choria's process agent
// (choria-plugins/process-agent): `choria req process list pattern=nginx`
// and `tutti rpc process list pattern=nginx` mean the same. kill is
// tutti's (Choria dropped MCollective's kill): a pid, or a pattern, and a
// signal from a fixed list (TERM by default).
//
// Processes are read from /proc (Linux); no program is run. A pattern is
// a Go regular expression (RE2: linear time, no catastrophic
// backtracking) matched against the command line, its arguments joined
// by spaces (kernel threads, which have none, by their name in
// brackets, as ps shows them).
//
// kill never signals PID 1, tuttid itself, or a PID below 1 (kill(2)
// reads 0 and negative PIDs as process groups, -1 as every process): a
// pid input naming one of them is refused with status 4, and a pattern
// matching one skips it (the reply lists it under skipped). A process is
// signalled through a pidfd opened after it matched and checked again
// (same start time), so a PID reused in between is not signalled.
package process

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/user"
	"regexp"
	"sort"
	"strconv"
	"syscall"

	"github.com/tuttifleet/tutti/agents"
	"github.com/tuttifleet/tutti/agents/ddl"
)

//go:embed process.json
var ddlJSON []byte

// DDL describes the process agent.
var DDL = ddl.MustParse(ddlJSON)

func init() {
	agents.RegisterDDL(DDL)
	agents.Register("process", New)
}

// Signals are the signals kill sends, by the names the DDL lists.
var Signals = map[string]syscall.Signal{
	"TERM": syscall.SIGTERM, "KILL": syscall.SIGKILL, "HUP": syscall.SIGHUP, "INT": syscall.SIGINT,
	"QUIT": syscall.SIGQUIT, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "STOP": syscall.SIGSTOP, "CONT": syscall.SIGCONT,
}

// New builds the process agent for node n.
func New(agents.Node) (agents.Agent, error) {
	return NewWith(Options{})
}

// Options configure the agent; the zero value is the real system.
type Options struct {
	// ProcDir is the proc file system ("/proc" when empty).
	ProcDir string
	// Self is the PID kill protects besides 1 (os.Getpid() when 0).
	Self int
}

// NewWith builds the process agent with opts.
func NewWith(opts Options) (agents.Agent, error) {
	if opts.ProcDir == "" {
		opts.ProcDir = "/proc"
	}
	if opts.Self == 0 {
		opts.Self = os.Getpid()
	}
	p := &procs{opts: opts}
	return agents.NewFromDDL(DDL).Action("list", p.list).Action("kill", p.kill), nil
}

type procs struct{ opts Options }

// Proc is one process of the list (the keys of Choria's pslist entries
// that Linux has).
type Proc struct {
	PID      int    `json:"pid"`
	PPID     int    `json:"ppid"`
	Comm     string `json:"comm"`
	Cmdline  string `json:"cmdline"`
	State    string `json:"state"`
	UID      int    `json:"uid"`
	Username string `json:"username"`
	// VSize and RSS are in bytes.
	VSize uint64 `json:"vsize"`
	RSS   uint64 `json:"rss"`
	// StartTime is in clock ticks after boot (tells a reused PID).
	StartTime uint64 `json:"starttime"`
}

// pattern compiles the pattern input ("." when empty, as Choria).
func pattern(s string) (*regexp.Regexp, error) {
	if s == "" {
		s = "."
	}
	re, err := regexp.Compile(s)
	if err != nil {
		return nil, agents.InvalidData("Validation failed: pattern: %q is not a regular expression: %v", clip(s), err)
	}
	return re, nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

func (p *procs) list(ctx context.Context, req *agents.Request) (any, error) {
	var in struct {
		Pattern     string `json:"pattern"`
		JustZombies bool   `json:"just_zombies"`
		User        string `json:"user"`
	}
	if err := json.Unmarshal(req.Data, &in); err != nil {
		return nil, agents.InvalidData("Could not process request: %v", err)
	}
	re, err := pattern(in.Pattern)
	if err != nil {
		return nil, err
	}
	uid := -1
	if in.User != "" {
		u, err := user.Lookup(in.User)
		if err != nil {
			// Choria lists nothing for an unknown user
			return map[string]any{"pslist": []Proc{}, "count": 0}, nil
		}
		uid, _ = strconv.Atoi(u.Uid)
	}
	all, err := readAll(ctx, p.opts.ProcDir)
	if err != nil {
		return nil, agents.Abort("Could not list processes: %v", err)
	}
	out := []Proc{}
	for _, pr := range all {
		if re.MatchString(pr.Cmdline) && (!in.JustZombies || pr.State == "Z") && (uid < 0 || pr.UID == uid) {
			out = append(out, pr)
		}
	}
	names := usernames{}
	for i := range out {
		out[i].Username = names.lookup(out[i].UID)
	}
	return map[string]any{"pslist": out, "count": len(out)}, nil
}

type usernames map[int]string

func (u usernames) lookup(uid int) string {
	if n, ok := u[uid]; ok {
		return n
	}
	n := strconv.Itoa(uid)
	if us, err := user.LookupId(n); err == nil {
		n = us.Username
	}
	u[uid] = n
	return n
}

type killInput struct {
	PID     *int64 `json:"pid"`
	Pattern string `json:"pattern"`
	Signal  string `json:"signal"`
}

func (p *procs) kill(ctx context.Context, req *agents.Request) (any, error) {
	var in killInput
	if err := json.Unmarshal(req.Data, &in); err != nil {
		return nil, agents.InvalidData("Could not process request: %v", err)
	}
	if in.Signal == "" {
		in.Signal = "TERM"
	}
	sig, ok := Signals[in.Signal]
	if !ok {
		return nil, agents.InvalidData("Validation failed: signal: %q is not one of the signals kill sends", clip(in.Signal))
	}
	switch {
	case in.PID == nil && in.Pattern == "":
		return nil, agents.MissingData("Action kill needs a pid or a pattern argument")
	case in.PID != nil && in.Pattern != "":
		return nil, agents.InvalidData("Validation failed: give a pid or a pattern, not both")
	case in.PID != nil:
		return p.killPID(ctx, *in.PID, sig)
	}
	re, err := pattern(in.Pattern)
	if err != nil {
		return nil, err
	}
	return p.killPattern(ctx, re, sig)
}

// protected says why kill must leave pid alone ("" when it may signal it).
func (p *procs) protected(pid int64) string {
	switch {
	case pid < 1:
		return fmt.Sprintf("PID %d is not a process (kill would signal a process group or every process)", pid)
	case pid == 1:
		return "PID 1 is init"
	case pid == int64(p.opts.Self):
		return fmt.Sprintf("PID %d is tuttid itself", pid)
	}
	return ""
}

func (p *procs) killPID(ctx context.Context, pid int64, sig syscall.Signal) (any, error) {
	if why := p.protected(pid); why != "" {
		return nil, agents.InvalidData("Validation failed: pid: refusing to signal %d: %s", pid, why)
	}
	if pid > 1<<22 {
		return nil, agents.Abort("Could not signal %d: no such process", pid)
	}
	pr, err := readProc(p.opts.ProcDir, int(pid))
	if err != nil {
		return nil, agents.Abort("Could not signal %d: no such process", pid)
	}
	if err := signal(pr, p.opts.ProcDir, sig); err != nil {
		return nil, agents.Abort("Could not signal %d: %v", pid, err)
	}
	return map[string]any{"killed": 1, "pids": []int{pr.PID}, "skipped": []int{}}, nil
}

func (p *procs) killPattern(ctx context.Context, re *regexp.Regexp, sig syscall.Signal) (any, error) {
	all, err := readAll(ctx, p.opts.ProcDir)
	if err != nil {
		return nil, agents.Abort("Could not list processes: %v", err)
	}
	killed, skipped := []int{}, []int{}
	var failures []string
	for _, pr := range all {
		if !re.MatchString(pr.Cmdline) {
			continue
		}
		if p.protected(int64(pr.PID)) != "" {
			skipped = append(skipped, pr.PID)
			continue
		}
		if err := signal(pr, p.opts.ProcDir, sig); err != nil {
			failures = append(failures, fmt.Sprintf("%d: %v", pr.PID, err))
			continue
		}
		killed = append(killed, pr.PID)
	}
	sort.Ints(killed)
	out := map[string]any{"killed": len(killed), "pids": killed, "skipped": skipped}
	switch {
	case len(failures) > 0:
		return out, agents.Abort("Could not signal every matching process: %s", clip(fmt.Sprint(failures)))
	case len(killed) == 0 && len(skipped) == 0:
		return out, agents.Abort("No process matches %s", re)
	}
	return out, nil
}
