// Package service is the service agent: start, stop, restart and status
// of systemd units through systemctl.
//
// systemctl is executed directly (no shell) with a fixed environment, in
// its own process group, and the unit name is passed after "--". Names
// are checked twice, by the DDL on the node before authorization and by
// the agent itself: 1 to 256 characters of [A-Za-z0-9@._:-], not
// starting with '-' (no option injection, even after leading dots), not
// only dots, no '/' (no paths). A refused
// name gets status 4 and systemctl is never run.
//
// The systemctl program is plugin.tutti.service.systemctl (an absolute
// path; default /usr/bin/systemctl, else /bin/systemctl), which tests
// point at a fake.
package service

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tuttifleet/tutti/agents"
	"github.com/tuttifleet/tutti/agents/ddl"
	"github.com/tuttifleet/tutti/agents/internal/procexec"
)

//go:embed service.json
var ddlJSON []byte

// DDL describes the service agent.
var DDL = ddl.MustParse(ddlJSON)

// ConfigKey names the systemctl program in the node configuration.
const ConfigKey = "plugin.tutti.service.systemctl"

// MaxNameLength bounds a unit name.
const MaxNameLength = 256

func init() {
	agents.RegisterDDL(DDL)
	agents.Register("service", New)
}

// env is systemctl's complete environment.
var env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "LANG=C", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0"}

// New builds the service agent for node n.
func New(n agents.Node) (agents.Agent, error) {
	path, _ := n.ConfigItem(ConfigKey)
	return NewWith(path)
}

// NewWith builds the service agent running the given systemctl (empty:
// the default).
func NewWith(systemctl string) (agents.Agent, error) {
	if systemctl == "" {
		systemctl = "/usr/bin/systemctl"
		if _, err := os.Stat(systemctl); err != nil {
			systemctl = "/bin/systemctl"
		}
	}
	if !filepath.IsAbs(systemctl) {
		return nil, fmt.Errorf("%s = %q: must be an absolute path", ConfigKey, systemctl)
	}
	s := &svc{systemctl: systemctl}
	a := agents.NewFromDDL(DDL)
	for _, verb := range []string{"start", "stop", "restart"} {
		a.Action(verb, s.change(verb))
	}
	a.Action("status", s.status)
	return a, nil
}

type svc struct{ systemctl string }

// ValidName checks a unit name: the reason says what is wrong.
func ValidName(name string) error {
	switch {
	case name == "":
		return errors.New("the service name is empty")
	case len(name) > MaxNameLength:
		return fmt.Errorf("the service name is %d characters long, more than %d", len(name), MaxNameLength)
	case name[0] == '-':
		return fmt.Errorf("the service name %q starts with '-'", name)
	case strings.Trim(name, ".") == "":
		return fmt.Errorf("the service name %q is only dots", name)
	case strings.TrimLeft(name, ".")[0] == '-':
		return fmt.Errorf("the service name %q starts with dots and '-'", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@._:-", r)) {
			return fmt.Errorf("the service name %q contains %q; only letters, digits and @ . _ : - are allowed", clip(name), r)
		}
	}
	return nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// name reads and checks the service input.
func name(req *agents.Request) (string, error) {
	var in struct {
		Service string `json:"service"`
	}
	if err := json.Unmarshal(req.Data, &in); err != nil {
		return "", agents.InvalidData("Could not process request: %v", err)
	}
	if err := ValidName(in.Service); err != nil {
		return "", agents.InvalidData("Validation failed: service: %v", err)
	}
	return in.Service, nil
}

func (s *svc) run(ctx context.Context, args ...string) procexec.Result {
	return procexec.Run(ctx, procexec.Cmd{Path: s.systemctl, Args: args, Env: env, MaxStdout: 64 << 10, MaxStderr: 8 << 10})
}

func (s *svc) change(verb string) agents.ActionFunc {
	return func(ctx context.Context, req *agents.Request) (any, error) {
		unit, err := name(req)
		if err != nil {
			return nil, err
		}
		if res := s.run(ctx, verb, "--", unit); res.Err != nil || res.ExitCode != 0 || res.TimedOut {
			return nil, agents.Abort("Could not %s %s: %s", verb, unit, failure(s.systemctl, res))
		}
		st, err := s.show(ctx, unit)
		if err != nil {
			return nil, err
		}
		return map[string]string{"status": st.status(), "active_state": st["ActiveState"], "sub_state": st["SubState"]}, nil
	}
}

func (s *svc) status(ctx context.Context, req *agents.Request) (any, error) {
	unit, err := name(req)
	if err != nil {
		return nil, err
	}
	st, err := s.show(ctx, unit)
	if err != nil {
		return nil, err
	}
	return map[string]string{"status": st.status(), "active_state": st["ActiveState"], "sub_state": st["SubState"],
		"load_state": st["LoadState"], "unit_file_state": st["UnitFileState"]}, nil
}

// state is systemctl show's properties.
type state map[string]string

func (st state) status() string {
	switch st["ActiveState"] {
	case "active", "reloading", "deactivating":
		return "running"
	case "inactive", "failed":
		return "stopped"
	}
	return st["ActiveState"]
}

func (s *svc) show(ctx context.Context, unit string) (state, error) {
	res := s.run(ctx, "show", "--property=LoadState,ActiveState,SubState,UnitFileState", "--", unit)
	if res.Err != nil || res.ExitCode != 0 || res.TimedOut {
		return nil, agents.Abort("Could not get the status of %s: %s", unit, failure(s.systemctl, res))
	}
	st := state{}
	for _, line := range strings.Split(string(res.Stdout), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			st[k] = v
		}
	}
	if st["LoadState"] == "not-found" {
		return nil, agents.Abort("Could not get the status of %s: systemd does not know this unit", unit)
	}
	if st["ActiveState"] == "" {
		return nil, agents.Abort("Could not get the status of %s: systemctl show printed no ActiveState", unit)
	}
	return st, nil
}

// failure describes a failed systemctl run.
func failure(systemctl string, res procexec.Result) string {
	msg := strings.TrimSpace(string(res.Stderr))
	if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
		msg = msg[i+1:]
	}
	switch {
	case res.Err != nil:
		return fmt.Sprintf("cannot run %s: %v", systemctl, res.Err)
	case res.TimedOut:
		return "systemctl did not finish in time"
	case res.Signal != "":
		return "systemctl was killed by signal " + res.Signal
	case msg != "":
		return fmt.Sprintf("systemctl exited with status %d: %s", res.ExitCode, clip(msg))
	}
	return fmt.Sprintf("systemctl exited with status %d", res.ExitCode)
}
