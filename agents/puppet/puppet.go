// Package puppet is the puppet agent: the status of the Puppet agent,
// enable and disable it (with a reason), start a single run (with splay),
// and report the last run's summary, with Choria's puppet agent's action,
// input and output names.
//
// The state is read from Puppet's own files: the disable lock
// (agent_disabled.lock, JSON with the reason) and the run lock
// (agent_catalog_run.lock, a PID) in plugin.tutti.puppet.statedir, the
// daemon's PID file plugin.tutti.puppet.pidfile, and the last run's
// summary plugin.tutti.puppet.summary (YAML). enable, disable and runonce
// run the puppet program plugin.tutti.puppet.command directly (no shell,
// fixed environment, options as single --name=value words, so no input
// can be read as another option). runonce starts
// `puppet agent --onetime --no-daemonize` in the background, in its own
// session, and replies at once; splay is Puppet's (--splay,
// --splaylimit).
//
// Where the puppet program is missing, status replies OK with status
// "absent" and the other actions are refused with status 1 and that
// reason: the agent never fails to load for it.
package puppet

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/tuttifleet/tutti/agents"
	"github.com/tuttifleet/tutti/agents/ddl"
	"github.com/tuttifleet/tutti/agents/internal/procexec"
)

//go:embed puppet.json
var ddlJSON []byte

// DDL describes the puppet agent.
var DDL = ddl.MustParse(ddlJSON)

// Configuration keys.
const (
	CommandKey  = "plugin.tutti.puppet.command"
	StateDirKey = "plugin.tutti.puppet.statedir"
	SummaryKey  = "plugin.tutti.puppet.summary"
	PIDFileKey  = "plugin.tutti.puppet.pidfile"
)

// Defaults: the paths of the Puppet (AIO) packages.
const (
	DefaultCommand  = "/opt/puppetlabs/bin/puppet"
	DefaultStateDir = "/opt/puppetlabs/puppet/cache/state"
	DefaultSummary  = "/opt/puppetlabs/puppet/public/last_run_summary.yaml"
	DefaultPIDFile  = "/var/run/puppetlabs/agent.pid"
)

// Lock files in the state directory.
const (
	DisabledLock = "agent_disabled.lock"
	RunLock      = "agent_catalog_run.lock"
)

// maxFile bounds what is read of a state file.
const maxFile = 1 << 20

func init() {
	agents.RegisterDDL(DDL)
	agents.Register("puppet", New)
}

// Config locates Puppet. Empty fields take the defaults.
type Config struct {
	Command, StateDir, Summary, PIDFile string
}

// New builds the puppet agent for node n.
func New(n agents.Node) (agents.Agent, error) {
	var c Config
	c.Command, _ = n.ConfigItem(CommandKey)
	c.StateDir, _ = n.ConfigItem(StateDirKey)
	c.Summary, _ = n.ConfigItem(SummaryKey)
	c.PIDFile, _ = n.ConfigItem(PIDFileKey)
	return NewWith(c)
}

// NewWith builds the puppet agent with configuration c.
func NewWith(c Config) (agents.Agent, error) {
	if c.Command == "" {
		c.Command = DefaultCommand
		if _, err := os.Stat(c.Command); err != nil {
			c.Command = "/usr/bin/puppet"
		}
	}
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir
	}
	if c.Summary == "" {
		c.Summary = DefaultSummary
		if _, err := os.Stat(c.Summary); err != nil {
			c.Summary = filepath.Join(c.StateDir, "last_run_summary.yaml")
		}
	}
	if c.PIDFile == "" {
		c.PIDFile = DefaultPIDFile
	}
	for key, p := range map[string]string{CommandKey: c.Command, StateDirKey: c.StateDir, SummaryKey: c.Summary, PIDFileKey: c.PIDFile} {
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("%s = %q: must be an absolute path", key, p)
		}
	}
	m := &mgr{cfg: c, now: time.Now}
	return agents.NewFromDDL(DDL).
		Action("status", m.status).
		Action("enable", m.enable).
		Action("disable", m.disable).
		Action("runonce", m.runonce).
		Action("last_run_summary", m.lastRunSummary), nil
}

type mgr struct {
	cfg Config
	now func() time.Time
}

// env is puppet's complete environment.
var env = []string{"PATH=/opt/puppetlabs/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", "LC_ALL=C", "HOME=/root"}

// present returns nil when the puppet program exists, else the reason.
func (m *mgr) present() error {
	fi, err := os.Stat(m.cfg.Command)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("Puppet is not installed on this node: %s does not exist (set %s)", m.cfg.Command, CommandKey)
		}
		return fmt.Errorf("Puppet cannot be used on this node: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("Puppet cannot be used on this node: %s is not an executable file", m.cfg.Command)
	}
	return nil
}

// readFile reads a small state file; missing is (nil, nil).
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if len(b) > maxFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxFile)
	}
	return b, err
}

// disabled reports whether the disable lock exists, and its reason.
func (m *mgr) disabled() (bool, string, error) {
	path := filepath.Join(m.cfg.StateDir, DisabledLock)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return false, "", nil
	}
	b, err := readFile(path)
	if err != nil {
		return true, "", fmt.Errorf("read the disable lock: %w", err)
	}
	var lock struct {
		Message string `json:"disabled_message"`
	}
	_ = json.Unmarshal(b, &lock) // an empty or foreign lock still disables
	return true, lock.Message, nil
}

// pidAlive reports whether the PID file names a running process.
func pidAlive(path string) bool {
	b, err := readFile(path)
	if err != nil || b == nil {
		return false
	}
	var pid int
	if _, err := fmt.Sscanf(strings.TrimSpace(string(b)), "%d", &pid); err != nil || pid <= 0 {
		return false
	}
	err = syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func (m *mgr) status(ctx context.Context, req *agents.Request) (any, error) {
	out := map[string]any{"applying": false, "idling": false, "enabled": false, "daemon_present": false,
		"lastrun": 0, "since_lastrun": -1, "disable_message": ""}
	if err := m.present(); err != nil {
		// enabled is unknown: left out, so it counts in no summary
		delete(out, "enabled")
		out["status"], out["message"] = "absent", err.Error()
		return out, nil
	}
	disabled, msg, err := m.disabled()
	if err != nil {
		return nil, agents.Abort("Could not get the Puppet status: %v", err)
	}
	applying := pidAlive(filepath.Join(m.cfg.StateDir, RunLock))
	daemon := pidAlive(m.cfg.PIDFile)
	out["enabled"], out["disable_message"] = !disabled, msg
	out["applying"], out["daemon_present"], out["idling"] = applying, daemon, daemon && !applying
	last := "never"
	if s, err := m.summary(); err == nil && s.LastRun() > 0 {
		ago := m.now().Unix() - s.LastRun()
		out["lastrun"], out["since_lastrun"] = s.LastRun(), ago
		last = fmt.Sprintf("%d seconds ago", ago)
	}
	var st string
	switch {
	case disabled:
		st = "disabled"
		out["message"] = fmt.Sprintf("Currently disabled: %s; last completed run %s", orNone(msg), last)
	case applying:
		st = "applying a catalog"
	case daemon:
		st = "idling"
	default:
		st = "stopped"
	}
	out["status"] = st
	if !disabled {
		out["message"] = fmt.Sprintf("Currently %s; last completed run %s", st, last)
	}
	return out, nil
}

func orNone(s string) string {
	if s == "" {
		return "no reason given"
	}
	return s
}

func (m *mgr) puppet(ctx context.Context, args ...string) error {
	res := procexec.Run(ctx, procexec.Cmd{Path: m.cfg.Command, Args: args, Env: env, MaxStdout: 16 << 10, MaxStderr: 16 << 10})
	msg := strings.TrimSpace(string(res.Stderr))
	if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
		msg = msg[i+1:]
	}
	switch {
	case res.Err != nil:
		return fmt.Errorf("cannot run %s: %w", m.cfg.Command, res.Err)
	case res.TimedOut:
		return errors.New("puppet did not finish in time")
	case res.ExitCode != 0 && msg != "":
		return fmt.Errorf("puppet exited with status %d: %s", res.ExitCode, clip(msg))
	case res.ExitCode != 0:
		return fmt.Errorf("puppet exited with status %d", res.ExitCode)
	}
	return nil
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

func (m *mgr) enable(ctx context.Context, req *agents.Request) (any, error) {
	if err := m.present(); err != nil {
		return nil, agents.Abort("%v", err)
	}
	disabled, _, err := m.disabled()
	if err != nil {
		return nil, agents.Abort("Could not enable Puppet: %v", err)
	}
	if !disabled {
		return map[string]any{"status": "already enabled", "enabled": true}, nil
	}
	if err := m.puppet(ctx, "agent", "--enable"); err != nil {
		return nil, agents.Abort("Could not enable Puppet: %v", err)
	}
	if disabled, _, _ = m.disabled(); disabled {
		return map[string]any{"status": "still disabled", "enabled": false}, agents.Abort("Could not enable Puppet: the disable lock is still there after puppet agent --enable")
	}
	return map[string]any{"status": "enabled", "enabled": true}, nil
}

func (m *mgr) disable(ctx context.Context, req *agents.Request) (any, error) {
	var in struct {
		Message string `json:"message"`
	}
	if err := json.Unmarshal(req.Data, &in); err != nil {
		return nil, agents.InvalidData("Could not process request: %v", err)
	}
	if err := validMessage(in.Message); err != nil {
		return nil, agents.InvalidData("Validation failed: message: %v", err)
	}
	if err := m.present(); err != nil {
		return nil, agents.Abort("%v", err)
	}
	disabled, msg, err := m.disabled()
	if err != nil {
		return nil, agents.Abort("Could not disable Puppet: %v", err)
	}
	if disabled {
		return map[string]any{"status": "already disabled: " + orNone(msg), "enabled": false}, nil
	}
	if in.Message == "" {
		in.Message = fmt.Sprintf("Disabled via tutti by %s at %s", req.CallerID, m.now().UTC().Format(time.RFC3339))
	}
	if err := m.puppet(ctx, "agent", "--disable", in.Message); err != nil {
		return nil, agents.Abort("Could not disable Puppet: %v", err)
	}
	if disabled, _, _ = m.disabled(); !disabled {
		return map[string]any{"status": "still enabled", "enabled": true}, agents.Abort("Could not disable Puppet: no disable lock after puppet agent --disable")
	}
	return map[string]any{"status": "disabled: " + in.Message, "enabled": false}, nil
}

// validMessage checks a disable message as the DDL does: at most 120
// characters, no shell metacharacters or line breaks, not starting with
// '-' (it is puppet's argument).
func validMessage(s string) error {
	switch {
	case len([]rune(s)) > 120:
		return fmt.Errorf("is %d characters long, more than 120", len([]rune(s)))
	case strings.HasPrefix(s, "-"):
		return fmt.Errorf("%q starts with '-'", clip(s))
	case strings.ContainsAny(s, "`$;|&><\n\r\x00"):
		return fmt.Errorf("%q contains a shell metacharacter or a line break", clip(s))
	}
	return nil
}
