// Package external runs agents written in any language: a DDL file
// <name>.json and an executable <name> side by side in an agents
// directory. For each request the node runs the executable with the
// action as its only argument, no shell, in its own process group, with
// a fixed environment, and writes the request to its stdin as one JSON
// object:
//
//	{"protocol": "tutti:external:request:1",
//	 "agent": "hello", "action": "greet", "data": {"name": "world"},
//	 "caller": "choria=alice.mcollective", "sender": "alice.mcollective",
//	 "request_id": "839a99254f3c4a07a050ce6897cef158", "collective": "mcollective",
//	 "time": 1795357924, "ttl": 60}
//
// data has already been validated against the DDL, with its defaults
// filled in. The program prints its reply on stdout as one JSON object,
// either the full form
//
//	{"statuscode": 0, "statusmsg": "OK", "data": {"greeting": "hello world"}}
//
// (statuscode 0–5, docs/protocol.md §14.3) or, when it has no "statuscode"
// key, the reply data itself ({"greeting": "hello world"}, status 0).
// Declared outputs missing from data get their DDL default.
//
// Whatever goes wrong is reported as status 5 (UnknownError) with a
// message saying what: the program could not start, exited non-zero,
// was killed by a signal, ran past the DDL timeout (its whole process
// group is killed), printed more than MaxOutput bytes, printed nothing or
// printed something that is not a JSON object. Its stderr is logged
// (bounded) in the node log.
package external

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/agents"
	"github.com/tuttifleet/tutti/agents/ddl"
	"github.com/tuttifleet/tutti/agents/internal/procexec"
	"github.com/tuttifleet/tutti/connector/protocol"
)

// Protocol names the request format written to the program's stdin.
const Protocol = "tutti:external:request:1"

// Defaults.
const (
	DefaultMaxOutput = 1 << 20
	DefaultMaxStderr = 16 << 10
	DefaultTimeout   = 10 * time.Second
)

// DefaultEnv is the environment the program gets: nothing is inherited.
var DefaultEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "LANG=C"}

// Options tune how programs are run.
type Options struct {
	// MaxOutput bounds the reply a program may print (DefaultMaxOutput).
	MaxOutput int
	// MaxStderr bounds what of its stderr is logged (DefaultMaxStderr).
	MaxStderr int
	// Env is the complete environment (DefaultEnv); TUTTI_AGENT,
	// TUTTI_ACTION and TUTTI_REQUEST_ID are added.
	Env []string
	Log *logrus.Entry
}

func (o *Options) defaults() {
	if o.MaxOutput <= 0 {
		o.MaxOutput = DefaultMaxOutput
	}
	if o.MaxStderr <= 0 {
		o.MaxStderr = DefaultMaxStderr
	}
	if o.Env == nil {
		o.Env = DefaultEnv
	}
	if o.Log == nil {
		l := logrus.New()
		l.SetOutput(nopWriter{})
		o.Log = logrus.NewEntry(l)
	}
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }

// Agent is one external agent.
type Agent struct {
	ddl     *ddl.DDL
	command string
	meta    agents.Metadata
	opts    Options
	log     *logrus.Entry
}

// New returns the external agent described by d and run by command (an
// absolute path to a regular, executable file that neither its group nor
// others may write). The result is already wrapped by agents.WithDDL.
func New(d *ddl.DDL, command string, o Options) (agents.Agent, error) {
	o.defaults()
	if err := checkExecutable(command); err != nil {
		return nil, fmt.Errorf("external agent %s: %w", d.Name(), err)
	}
	m := d.Metadata
	a := &Agent{ddl: d, command: command, opts: o, log: o.Log.WithFields(logrus.Fields{"component": "external", "agent": m.Name}),
		meta: agents.Metadata{Name: m.Name, Description: m.Description, Author: m.Author, License: m.License,
			Version: m.Version, URL: m.URL, Timeout: d.Timeout()}}
	if a.meta.Timeout == 0 {
		a.meta.Timeout = DefaultTimeout
	}
	return agents.WithDDL(a, d)
}

func checkExecutable(path string) error {
	if !filepath.IsAbs(path) {
		return fmt.Errorf("%s: the program path must be absolute", path)
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	switch {
	case !st.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", path)
	case st.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("%s is not executable", path)
	case st.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("%s is writable by its group or others (mode %s); refusing to run it", path, st.Mode().Perm())
	}
	return nil
}

// Load reads dir/<name>.json and returns the agent run by dir/<name>.
func Load(dir, name string, o Options) (agents.Agent, error) {
	if !agents.ValidName(name) {
		return nil, fmt.Errorf("external agent %q: invalid name", name)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, name+".json"))
	if err != nil {
		return nil, fmt.Errorf("external agent %s: %w", name, err)
	}
	d, err := ddl.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("external agent %s: %s: %w", name, filepath.Join(dir, name+".json"), err)
	}
	if d.Name() != name {
		return nil, fmt.Errorf("external agent %s: %s describes agent %q", name, filepath.Join(dir, name+".json"), d.Name())
	}
	return New(d, filepath.Join(dir, name), o)
}

// Found is what Scan saw in an agents directory.
type Found struct {
	// Agents are the external agents loaded, by name.
	Agents map[string]agents.Agent
	// DDLOnly are DDL files without a program beside them (DDLs of
	// built-in agents, or help for the CLI), by name.
	DDLOnly []string
	// Errors are the agents that could not be loaded, each naming its
	// file and reason.
	Errors []error
}

// Scan loads every external agent of dir: each <name>.json with an
// executable <name> beside it. A missing dir is not an error.
func Scan(dir string, o Options) Found {
	f := Found{Agents: map[string]agents.Agent{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			f.Errors = append(f.Errors, fmt.Errorf("agents directory %s: %w", dir, err))
		}
		return f
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, name)); errors.Is(err, fs.ErrNotExist) {
			f.DDLOnly = append(f.DDLOnly, name)
			continue
		}
		a, err := Load(dir, name, o)
		if err != nil {
			f.Errors = append(f.Errors, err)
			continue
		}
		f.Agents[name] = a
	}
	sort.Strings(f.DDLOnly)
	return f
}

// Metadata implements agents.Agent.
func (a *Agent) Metadata() agents.Metadata { return a.meta }

// Actions implements agents.Agent.
func (a *Agent) Actions() []string { return a.ddl.ActionNames() }

// request is what the program reads on stdin.
type request struct {
	Protocol   string          `json:"protocol"`
	Agent      string          `json:"agent"`
	Action     string          `json:"action"`
	Data       json.RawMessage `json:"data"`
	Caller     string          `json:"caller"`
	Sender     string          `json:"sender"`
	RequestID  string          `json:"request_id"`
	Collective string          `json:"collective"`
	Time       int64           `json:"time"`
	TTL        int64           `json:"ttl"`
}

// Run implements agents.Agent: ctx carries the DDL timeout.
func (a *Agent) Run(ctx context.Context, action string, req *agents.Request) agents.Reply {
	data := req.Data
	if len(bytes.TrimSpace(data)) == 0 {
		data = json.RawMessage("{}")
	}
	in, err := json.Marshal(request{Protocol: Protocol, Agent: a.meta.Name, Action: action, Data: data, Caller: req.CallerID,
		Sender: req.SenderID, RequestID: req.RequestID, Collective: req.Collective, Time: req.Time.Unix(), TTL: int64(req.TTL / time.Second)})
	if err != nil {
		return a.fail(action, "cannot encode the request: %v", err)
	}
	env := append(append([]string{}, a.opts.Env...), "TUTTI_AGENT="+a.meta.Name, "TUTTI_ACTION="+action, "TUTTI_REQUEST_ID="+req.RequestID)
	started := time.Now()
	res := procexec.Run(ctx, procexec.Cmd{Path: a.command, Args: []string{action}, Stdin: in, Env: env,
		MaxStdout: a.opts.MaxOutput, MaxStderr: a.opts.MaxStderr})
	log := a.log.WithFields(logrus.Fields{"action": action, "request": req.RequestID, "caller": req.CallerID})
	logStderr(log, res)
	switch {
	case res.Err != nil:
		return a.fail(action, "could not run %s: %v", a.command, res.Err)
	case res.TimedOut:
		// the DDL timeout, not the time since started: the deadline was
		// set before this call, so that can read 2.999s for a 3s timeout
		return a.fail(action, "timed out after %s (ran %s); its process group was killed",
			a.meta.Timeout, time.Since(started).Round(time.Millisecond))
	case res.Signal != "":
		return a.fail(action, "was killed by signal %s%s", res.Signal, lastLine(res.Stderr))
	case res.ExitCode != 0:
		return a.fail(action, "exited with status %d%s", res.ExitCode, lastLine(res.Stderr))
	case res.StdoutTruncated:
		return a.fail(action, "printed more than %d bytes", a.opts.MaxOutput)
	}
	return a.reply(action, res.Stdout)
}

// reply decodes the program's output.
func (a *Agent) reply(action string, out []byte) agents.Reply {
	out = bytes.TrimSpace(out)
	if len(out) == 0 {
		return a.fail(action, "printed nothing; the reply must be a JSON object")
	}
	var fields map[string]json.RawMessage
	if out[0] != '{' || json.Unmarshal(out, &fields) != nil {
		return a.fail(action, "printed something that is not a JSON object: %q", clip(out))
	}
	rep := agents.Reply{StatusCode: protocol.OK, StatusMsg: "OK"}
	data := out
	if sc, full := fields["statuscode"]; full {
		var body struct {
			StatusCode int             `json:"statuscode"`
			StatusMsg  string          `json:"statusmsg"`
			Data       json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(out, &body); err != nil || body.StatusCode < 0 || body.StatusCode > int(protocol.UnknownError) {
			return a.fail(action, "replied with an invalid statuscode %s (want 0 to 5)", clip(sc))
		}
		rep.StatusCode, rep.StatusMsg, data = protocol.StatusCode(body.StatusCode), body.StatusMsg, body.Data
		if rep.StatusMsg == "" && rep.StatusCode == protocol.OK {
			rep.StatusMsg = "OK"
		}
		if d := bytes.TrimSpace(data); len(d) > 0 && d[0] != '{' && string(d) != "null" {
			return a.fail(action, "replied with data that is not a JSON object: %q", clip(d))
		}
	}
	rep.Data = a.withOutputDefaults(action, data)
	return rep
}

// withOutputDefaults adds the DDL default of every declared output the
// program left out.
func (a *Agent) withOutputDefaults(action string, data json.RawMessage) any {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(data, &m)
	if m == nil {
		m = map[string]json.RawMessage{}
	}
	if act, ok := a.ddl.Action(action); ok {
		for name, o := range act.Output {
			if _, set := m[name]; !set && len(o.Default) > 0 {
				m[name] = o.Default
			}
		}
	}
	return m
}

func (a *Agent) fail(action, format string, args ...any) agents.Reply {
	msg := fmt.Sprintf("external agent %s#%s ", a.meta.Name, action) + fmt.Sprintf(format, args...)
	a.log.WithField("action", action).Warn(msg)
	return agents.Reply{StatusCode: protocol.UnknownError, StatusMsg: msg}
}

func logStderr(log *logrus.Entry, res procexec.Result) {
	if len(res.Stderr) == 0 {
		return
	}
	for _, line := range strings.Split(strings.TrimRight(string(res.Stderr), "\n"), "\n") {
		log.Warn("stderr: " + line)
	}
	if res.StderrTruncated {
		log.Warn("stderr: (more output discarded)")
	}
}

func lastLine(stderr []byte) string {
	s := strings.TrimSpace(string(stderr))
	if s == "" {
		return ""
	}
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return ": " + clip([]byte(s))
}

func clip(b []byte) string {
	if len(b) > 120 {
		return string(b[:120]) + "…"
	}
	return string(b)
}

var _ agents.Agent = (*Agent)(nil)

// Dirs lists the directories holding external agents and DDLs, in
// search order: each agents_dir, then <libdir>/mcollective/agent for
// each libdir (Choria's layout).
func Dirs(agentDirs, libDirs []string) []string {
	out := append([]string{}, agentDirs...)
	for _, l := range libDirs {
		out = append(out, filepath.Join(l, "mcollective", "agent"))
	}
	return out
}
