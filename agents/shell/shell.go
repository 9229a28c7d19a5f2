// Package shell is the shell agent: run one command on the matching
// nodes and return its exit code and output. It is off unless a node's
// configuration sets plugin.tutti.shell.enabled = true; elsewhere every
// request is refused with status 1 and a reason naming that key.
//
// Despite its (Choria's) name, no shell ever runs. The command input is
// split on spaces into the program and its first arguments; a word with a
// shell metacharacter (quotes, pipes, redirections, globs, variables,
// backslashes) is refused, so nothing a user types is silently taken
// literally where a shell would have interpreted it. The args input, a
// JSON array, is passed verbatim after those words. A program without '/'
// is looked up in plugin.tutti.shell.path; one with '/' must be absolute.
//
// The program runs with a fixed environment (PATH, LANG=C, LC_ALL=C) in
// "/", in its own process group killed as a whole at the timeout (the
// timeout input, at most the agent's), with stdin empty, and each output
// stream kept to plugin.tutti.shell.max_output bytes (the rest is
// discarded and the reply says truncated).
//
// Who may run what is ActionPolicy's business, as for any agent: the
// node authorizes shell#run with the caller and the request data, and its
// audit record holds the request data exactly as received, so the
// command and its arguments are in the audit trail.
package shell

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tuttifleet/tutti/agents"
	"github.com/tuttifleet/tutti/agents/ddl"
	"github.com/tuttifleet/tutti/agents/internal/procexec"
)

//go:embed shell.json
var ddlJSON []byte

// DDL describes the shell agent.
var DDL = ddl.MustParse(ddlJSON)

// Configuration keys.
const (
	EnabledKey   = "plugin.tutti.shell.enabled"
	PathKey      = "plugin.tutti.shell.path"
	MaxOutputKey = "plugin.tutti.shell.max_output"
)

// Defaults and bounds.
const (
	DefaultPath      = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	DefaultMaxOutput = 64 << 10
	// MaxMaxOutput keeps a reply with both streams under the broker's
	// usual 1 MiB message limit.
	MaxMaxOutput = 256 << 10
	// metachars are refused in the command input (see the package doc).
	metachars = "`|&;<>()$\\\"'*?{}~#!"
)

func init() {
	agents.RegisterDDL(DDL)
	agents.Register("shell", New)
}

// Config is the shell agent's configuration.
type Config struct {
	Enabled bool
	// Path is the ':'-separated search path of programs named without
	// '/', and the program's PATH.
	Path string
	// MaxOutput bounds each of stdout and stderr, in bytes.
	MaxOutput int
}

// New builds the shell agent for node n from its configuration.
func New(n agents.Node) (agents.Agent, error) {
	c := Config{Path: DefaultPath, MaxOutput: DefaultMaxOutput}
	if v, ok := n.ConfigItem(EnabledKey); ok {
		b, err := parseBool(v)
		if err != nil {
			return nil, fmt.Errorf("%s = %q: %w", EnabledKey, v, err)
		}
		c.Enabled = b
	}
	if v, ok := n.ConfigItem(PathKey); ok && strings.TrimSpace(v) != "" {
		c.Path = strings.TrimSpace(v)
	}
	if v, ok := n.ConfigItem(MaxOutputKey); ok && strings.TrimSpace(v) != "" {
		i, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || i < 1 || i > MaxMaxOutput {
			return nil, fmt.Errorf("%s = %q: must be a number of bytes from 1 to %d", MaxOutputKey, v, MaxMaxOutput)
		}
		c.MaxOutput = i
	}
	return NewWith(c)
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "y", "yes", "t", "true":
		return true, nil
	case "0", "n", "no", "f", "false", "":
		return false, nil
	}
	return false, fmt.Errorf("must be true or false")
}

// NewWith builds the shell agent with configuration c.
func NewWith(c Config) (agents.Agent, error) {
	if c.Path == "" {
		c.Path = DefaultPath
	}
	for _, dir := range filepath.SplitList(c.Path) {
		if !filepath.IsAbs(dir) {
			return nil, fmt.Errorf("%s: %q is not an absolute directory", PathKey, dir)
		}
	}
	if c.MaxOutput <= 0 {
		c.MaxOutput = DefaultMaxOutput
	}
	if c.MaxOutput > MaxMaxOutput {
		return nil, fmt.Errorf("%s = %d: more than %d", MaxOutputKey, c.MaxOutput, MaxMaxOutput)
	}
	s := &runner{cfg: c}
	return agents.NewFromDDL(DDL).Action("run", s.run), nil
}

type runner struct{ cfg Config }

type input struct {
	Command string          `json:"command"`
	Args    json.RawMessage `json:"args"`
	Timeout *float64        `json:"timeout"`
}

// Argv splits a command input into words, refusing what a shell would
// have interpreted, and appends args.
func Argv(command string, args []string) ([]string, error) {
	for _, r := range command {
		if r < ' ' && r != '\t' || r == 0x7f {
			return nil, fmt.Errorf("the command contains the control character %q", r)
		}
	}
	if i := strings.IndexAny(command, metachars); i >= 0 {
		return nil, fmt.Errorf("the command contains %q: no shell runs here; pass such arguments verbatim in args", command[i])
	}
	words := strings.Fields(command)
	if len(words) == 0 {
		return nil, fmt.Errorf("the command is empty")
	}
	if strings.HasPrefix(words[0], "-") {
		return nil, fmt.Errorf("the program %q starts with '-'", words[0])
	}
	for i, a := range args {
		if strings.IndexByte(a, 0) >= 0 {
			return nil, fmt.Errorf("args[%d] contains a NUL byte", i)
		}
	}
	return append(words, args...), nil
}

// lookPath finds prog: absolute, or in the search path.
func (s *runner) lookPath(prog string) (string, error) {
	if strings.Contains(prog, "/") {
		if !filepath.IsAbs(prog) {
			return "", fmt.Errorf("%q is a relative path; name a program in %s or give its absolute path", prog, PathKey)
		}
		return prog, executable(prog)
	}
	for _, dir := range filepath.SplitList(s.cfg.Path) {
		p := filepath.Join(dir, prog)
		if executable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found in %s", prog, s.cfg.Path)
}

func executable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", p)
	}
	return nil
}

func (s *runner) parse(req *agents.Request) ([]string, time.Duration, error) {
	var in input
	if err := json.Unmarshal(req.Data, &in); err != nil {
		return nil, 0, agents.InvalidData("Could not process request: %v", err)
	}
	var args []string
	if len(in.Args) > 0 && string(in.Args) != "null" {
		if err := json.Unmarshal(in.Args, &args); err != nil {
			return nil, 0, agents.InvalidData("Validation failed: args: must be an array of strings: %v", err)
		}
	}
	argv, err := Argv(in.Command, args)
	if err != nil {
		return nil, 0, agents.InvalidData("Validation failed: command: %v", err)
	}
	timeout := 60 * time.Second
	if in.Timeout != nil {
		t := *in.Timeout
		if math.IsNaN(t) || t <= 0 || t > DDL.Timeout().Seconds() {
			return nil, 0, agents.InvalidData("Validation failed: timeout: %v seconds is not within 0 and %v", t, DDL.Timeout().Seconds())
		}
		timeout = time.Duration(t * float64(time.Second))
	}
	return argv, timeout, nil
}

func (s *runner) run(ctx context.Context, req *agents.Request) (any, error) {
	if !s.cfg.Enabled {
		return nil, agents.Abort("The shell agent is disabled on this node: set %s = true in its configuration to allow shell#run", EnabledKey)
	}
	argv, timeout, err := s.parse(req)
	if err != nil {
		return nil, err
	}
	prog, err := s.lookPath(argv[0])
	if err != nil {
		return nil, agents.Abort("Cannot run %s: %v", argv[0], err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	res := procexec.Run(ctx, procexec.Cmd{Path: prog, Args: argv[1:], Env: []string{"PATH=" + s.cfg.Path, "LANG=C", "LC_ALL=C"},
		MaxStdout: s.cfg.MaxOutput, MaxStderr: s.cfg.MaxOutput})
	took := time.Since(start)
	if res.Err != nil {
		return nil, agents.Abort("Cannot run %s: %v", prog, res.Err)
	}
	out := map[string]any{
		"stdout": string(res.Stdout), "stderr": string(res.Stderr), "exitcode": res.ExitCode,
		"success": res.ExitCode == 0 && !res.TimedOut, "truncated": res.StdoutTruncated || res.StderrTruncated,
		"timed_out": res.TimedOut, "duration": math.Round(took.Seconds()*1000) / 1000,
	}
	if res.TimedOut {
		return out, agents.Abort("%s did not finish within %s and was killed", argv[0], timeout)
	}
	return out, nil
}
