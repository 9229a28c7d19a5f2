// Package packages is the package agent: status, install, update,
// uninstall and purge of one package, and the count and MD5 of the
// installed set, on Debian (apt-get, dpkg-query) and RPM (dnf, rpm)
// systems. Its actions, inputs and outputs are those of Choria's package
// agent (choria-plugins/package-agent), so `choria req package status
// package=nginx` and `tutti rpc package status package=nginx` mean the
// same. (The Go package is "packages": "package" is a Go keyword.)
//
// The package manager is detected when the agent is built: apt when
// apt-get is in plugin.tutti.package.bindir (default /usr/bin), else dnf
// when dnf (or yum) is; plugin.tutti.package.provider (auto, apt, dnf)
// forces one. On a node with neither, every action fails with that
// reason.
//
// Programs are executed directly (no shell) with a fixed environment, in
// their own process group, killed when the action's timeout (180 s)
// ends, with the package name after "--". Names are checked twice, by
// the DDL on the node before authorization and by the agent itself: 1 to
// 90 characters of [A-Za-z0-9_+.-], starting with a letter or digit (no
// option injection, no globs, no paths), with an optional ":arch"
// suffix. apt-get reads a name it does not know that holds a '.' as a
// regular expression (libc6. would install 130 packages), so on apt the
// agent first checks that the exact name is a package apt-cache knows
// (install) or that dpkg has it (update, uninstall, purge). Changes on
// one node run one at a time (dpkg and rpm lock their database anyway).
package packages

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

//go:embed package.json
var ddlJSON []byte

// DDL describes the package agent.
var DDL = ddl.MustParse(ddlJSON)

// Configuration keys.
const (
	ProviderKey = "plugin.tutti.package.provider"
	BinDirKey   = "plugin.tutti.package.bindir"
)

// DefaultBinDir holds apt-get, dpkg-query, apt-cache, dnf and rpm.
const DefaultBinDir = "/usr/bin"

// MaxNameLength and MaxVersionLength bound the inputs (Choria's 90).
const (
	MaxNameLength    = 90
	MaxVersionLength = 90
)

func init() {
	agents.RegisterDDL(DDL)
	agents.Register("package", New)
}

// New builds the package agent for node n.
func New(n agents.Node) (agents.Agent, error) {
	prov, _ := n.ConfigItem(ProviderKey)
	dir, _ := n.ConfigItem(BinDirKey)
	return NewWith(prov, dir)
}

// NewWith builds the package agent with the given provider (auto, apt,
// dnf; empty is auto) and directory of the package tools (empty:
// DefaultBinDir).
func NewWith(provider, binDir string) (agents.Agent, error) {
	if binDir == "" {
		binDir = DefaultBinDir
	}
	if !filepath.IsAbs(binDir) {
		return nil, fmt.Errorf("%s = %q: must be an absolute path", BinDirKey, binDir)
	}
	p, err := detect(provider, binDir)
	if err != nil {
		return nil, err
	}
	a := &agent{prov: p, lock: make(chan struct{}, 1)}
	b := agents.NewFromDDL(DDL).Action("status", a.status).Action("count", a.count).Action("md5", a.md5)
	for _, verb := range []string{"install", "update", "uninstall", "purge"} {
		b.Action(verb, a.change(verb))
	}
	return b, nil
}

func exists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// detect picks the provider; nil (no error) when none is found in auto.
func detect(provider, dir string) (manager, error) {
	apt := &apt{dir: dir}
	dnf := &dnf{dir: dir, dnf: filepath.Join(dir, "dnf")}
	if !exists(dnf.dnf) && exists(filepath.Join(dir, "yum")) {
		dnf.dnf = filepath.Join(dir, "yum")
	}
	switch provider {
	case "", "auto":
		switch {
		case exists(filepath.Join(dir, "apt-get")):
			return apt, nil
		case exists(dnf.dnf):
			return dnf, nil
		}
		return nil, nil
	case "apt":
		return apt, nil
	case "dnf", "yum":
		return dnf, nil
	}
	return nil, fmt.Errorf("%s = %q: must be auto, apt or dnf", ProviderKey, provider)
}

// manager is a package manager.
type manager interface {
	name() string
	// status returns the package's state.
	status(ctx context.Context, pkg string) (state, error)
	// change runs verb (install, update, uninstall, purge) and returns
	// the output; version is for install only.
	change(ctx context.Context, verb, pkg, version string, before state) (string, error)
	// installed returns one line per installed package, sorted.
	installed(ctx context.Context) ([]string, error)
}

// state is a package's status, Choria's outputs.
type state struct {
	Name     string `json:"name"`
	Ensure   string `json:"ensure"`
	Epoch    string `json:"epoch"`
	Version  string `json:"version"`
	Release  string `json:"release"`
	Arch     string `json:"arch"`
	Provider string `json:"provider"`
	Output   string `json:"output"`
}

func (s state) isInstalled() bool { return s.Ensure != "absent" && s.Ensure != "purged" }

type agent struct {
	prov manager
	// lock is held by a change (a channel so that waiting ends with ctx).
	lock chan struct{}
}

var errNoManager = errors.New("no supported package manager on this node (apt-get with dpkg, or dnf/yum with rpm)")

// ValidName checks a package name: the reason says what is wrong.
func ValidName(name string) error {
	base, arch, hasArch := strings.Cut(name, ":")
	switch {
	case name == "":
		return errors.New("the package name is empty")
	case len(name) > MaxNameLength:
		return fmt.Errorf("the package name is %d characters long, more than %d", len(name), MaxNameLength)
	case name[0] == '-':
		return fmt.Errorf("the package name %q starts with '-'", clip(name))
	case !alnum(rune(name[0])):
		return fmt.Errorf("the package name %q does not start with a letter or digit", clip(name))
	case hasArch && (arch == "" || strings.Trim(arch, "abcdefghijklmnopqrstuvwxyz0123456789_-") != ""):
		return fmt.Errorf("the package name %q has an architecture suffix that is not :[a-z0-9_-]+", clip(name))
	}
	for _, r := range base {
		if !alnum(r) && !strings.ContainsRune("_+.-", r) {
			return fmt.Errorf("the package name %q contains %q; only letters, digits and _ + . - are allowed", clip(name), r)
		}
	}
	return nil
}

// ValidVersion checks a version input.
func ValidVersion(v string) error {
	switch {
	case len(v) > MaxVersionLength:
		return fmt.Errorf("the version is %d characters long, more than %d", len(v), MaxVersionLength)
	case v != "" && !alnum(rune(v[0])):
		return fmt.Errorf("the version %q does not start with a letter or digit", clip(v))
	}
	for _, r := range v {
		if !alnum(r) && !strings.ContainsRune("_+.:~-", r) {
			return fmt.Errorf("the version %q contains %q; only letters, digits and _ + . : ~ - are allowed", clip(v), r)
		}
	}
	return nil
}

func alnum(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' }

func clip(s string) string {
	if len(s) > 160 {
		return s[:160] + "…"
	}
	return s
}

type input struct {
	Package string `json:"package"`
	Version string `json:"version"`
}

func readInput(req *agents.Request) (input, error) {
	var in input
	if err := json.Unmarshal(req.Data, &in); err != nil {
		return in, agents.InvalidData("Could not process request: %v", err)
	}
	if err := ValidName(in.Package); err != nil {
		return in, agents.InvalidData("Validation failed: package: %v", err)
	}
	if err := ValidVersion(in.Version); err != nil {
		return in, agents.InvalidData("Validation failed: version: %v", err)
	}
	return in, nil
}

func (a *agent) status(ctx context.Context, req *agents.Request) (any, error) {
	in, err := readInput(req)
	if err != nil {
		return nil, err
	}
	if a.prov == nil {
		return nil, agents.Abort("Could not get the status of %s: %v", in.Package, errNoManager)
	}
	st, err := a.prov.status(ctx, in.Package)
	if err != nil {
		return nil, agents.Abort("Could not get the status of %s: %v", in.Package, err)
	}
	return st, nil
}

func (a *agent) change(verb string) agents.ActionFunc {
	return func(ctx context.Context, req *agents.Request) (any, error) {
		in, err := readInput(req)
		if err != nil {
			return nil, err
		}
		if verb != "install" && in.Version != "" {
			return nil, agents.InvalidData("Validation failed: version: only install takes a version")
		}
		if a.prov == nil {
			return nil, agents.Abort("Could not %s %s: %v", verb, in.Package, errNoManager)
		}
		select {
		case a.lock <- struct{}{}:
			defer func() { <-a.lock }()
		case <-ctx.Done():
			return nil, agents.Abort("Could not %s %s: another package change on this node did not finish in time", verb, in.Package)
		}
		before, err := a.prov.status(ctx, in.Package)
		if err != nil {
			return nil, agents.Abort("Could not %s %s: %v", verb, in.Package, err)
		}
		out, err := a.prov.change(ctx, verb, in.Package, in.Version, before)
		if err != nil {
			return nil, agents.Abort("Could not %s %s: %v", verb, in.Package, err)
		}
		after, err := a.prov.status(ctx, in.Package)
		if err != nil {
			return nil, agents.Abort("%s %s: cannot read its status afterwards: %v", verb, in.Package, err)
		}
		after.Output = out
		return after, nil
	}
}

func (a *agent) count(ctx context.Context, _ *agents.Request) (any, error) {
	lines, err := a.list(ctx)
	if err != nil {
		return nil, err
	}
	return map[string]any{"output": fmt.Sprint(len(lines)), "exitcode": 0}, nil
}

func (a *agent) md5(ctx context.Context, _ *agents.Request) (any, error) {
	lines, err := a.list(ctx)
	if err != nil {
		return nil, err
	}
	return map[string]any{"output": md5Hex(strings.Join(lines, "\n")), "exitcode": 0}, nil
}

func (a *agent) list(ctx context.Context) ([]string, error) {
	if a.prov == nil {
		return nil, agents.Abort("Could not list the installed packages: %v", errNoManager)
	}
	lines, err := a.prov.installed(ctx)
	if err != nil {
		return nil, agents.Abort("Could not list the installed packages: %v", err)
	}
	return lines, nil
}

// env is the package tools' complete environment.
var env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "LANG=C", "DEBIAN_FRONTEND=noninteractive",
	"APT_LISTCHANGES_FRONTEND=none", "NEEDRESTART_MODE=l"}

// outputTail bounds the output returned to the caller.
const outputTail = 4 << 10

func run(ctx context.Context, prog string, args ...string) procexec.Result {
	return procexec.Run(ctx, procexec.Cmd{Path: prog, Args: args, Env: env, MaxStdout: 1 << 20, MaxStderr: 64 << 10})
}

// failure describes a failed run.
func failure(prog string, res procexec.Result) error {
	name := filepath.Base(prog)
	msg := strings.TrimSpace(string(res.Stderr))
	if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
		msg = msg[i+1:]
	}
	switch {
	case res.Err != nil:
		return fmt.Errorf("cannot run %s: %w", prog, res.Err)
	case res.TimedOut:
		return fmt.Errorf("%s did not finish in time", name)
	case res.Signal != "":
		return fmt.Errorf("%s was killed by signal %s", name, res.Signal)
	case msg != "":
		return fmt.Errorf("%s exited with status %d: %s", name, res.ExitCode, clip(msg))
	}
	return fmt.Errorf("%s exited with status %d", name, res.ExitCode)
}

func ok(res procexec.Result) bool { return res.Err == nil && !res.TimedOut && res.ExitCode == 0 }

// tail is the last outputTail bytes of a run's output.
func tail(res procexec.Result) string {
	out := string(res.Stdout) + string(res.Stderr)
	if len(out) > outputTail {
		out = "…" + out[len(out)-outputTail:]
	}
	return strings.TrimSpace(out)
}
