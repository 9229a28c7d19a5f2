// Package agents is the API for writing tutti agents, and the registry of
// built-in agents.
//
// An agent is a named set of actions. The node hands an action a Request
// (after the request was verified, matched, authorized and audited) and
// publishes the Reply the action produces. Agents see only this package
// and the protocol vocabulary: never the connector or the node's
// internals. What an agent may know about the node comes through Node.
//
// Built-in agents register a constructor at init time:
//
//	func init() { agents.Register("rpcutil", New) }
//
// and every node builds its own instances with its own Node, so nothing is
// shared between the nodes of an emulated fleet.
//
// An agent declares its actions and their handlers, and its DDL (the
// JSON description of every action's inputs and outputs, see agents/ddl):
//
//	//go:embed echo.json
//	var ddlJSON []byte
//	var DDL = ddl.MustParse(ddlJSON)
//
//	func init() {
//		agents.RegisterDDL(DDL)
//		agents.Register("echo", New)
//	}
//
//	func New(n agents.Node) (agents.Agent, error) {
//		return agents.NewFromDDL(DDL).Action("say", say), nil
//	}
//
// Build wraps every agent that has a DDL so the node validates each
// request's inputs against it before authorization (status 3 or 4 with
// the reason) and the action sees the DDL's defaults filled in.
// docs/writing-agents.md walks through a complete agent.
package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tuttifleet/tutti/agents/ddl"
	"github.com/tuttifleet/tutti/connector/protocol"
)

// Request is what an action receives.
type Request struct {
	Agent, Action string
	// Data is the request's data object exactly as received ({} when
	// absent).
	Data json.RawMessage
	// CallerID is the verified (or privileged-asserted) caller.
	CallerID   string
	SenderID   string
	RequestID  string
	Collective string
	// Time is when the request was created; TTL its validity.
	Time time.Time
	TTL  time.Duration
}

// Reply is what an action returns. Data is marshalled to JSON (nil → {}).
type Reply struct {
	StatusCode protocol.StatusCode
	StatusMsg  string
	Data       any
}

// Error is an action failure with the status code to report.
type Error struct {
	Code protocol.StatusCode
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Abort returns a status 1 (Aborted) error.
func Abort(format string, args ...any) error {
	return &Error{Code: protocol.Aborted, Msg: fmt.Sprintf(format, args...)}
}

// InvalidData returns a status 4 error.
func InvalidData(format string, args ...any) error {
	return &Error{Code: protocol.InvalidData, Msg: fmt.Sprintf(format, args...)}
}

// MissingData returns a status 3 error.
func MissingData(format string, args ...any) error {
	return &Error{Code: protocol.MissingData, Msg: fmt.Sprintf(format, args...)}
}

// ActionFunc runs one action. It returns the reply data, or an error: an
// *Error sets its status code, any other error is status 5 (UnknownError).
type ActionFunc func(ctx context.Context, req *Request) (any, error)

// Metadata describes an agent (rpcutil#agent_inventory shows it).
type Metadata struct {
	Name        string        `json:"name"`
	Description string        `json:"description"`
	Author      string        `json:"author"`
	License     string        `json:"license"`
	Version     string        `json:"version"`
	URL         string        `json:"url"`
	Timeout     time.Duration `json:"-"`
}

// Agent is an instance of an agent on one node.
type Agent interface {
	Metadata() Metadata
	// Actions lists the action names, sorted.
	Actions() []string
	// Run executes action. The node has already checked that the action
	// exists; ctx carries the agent's timeout.
	Run(ctx context.Context, action string, req *Request) Reply
}

// Node is what an agent may know about the node it runs on.
type Node interface {
	Identity() string
	Fact(path string) (any, bool)
	Facts() map[string]any
	Classes() []string
	Agents() []string
	Collectives() []string
	MainCollective() string
	// ConfigItem returns a configuration value by key.
	ConfigItem(key string) (string, bool)
	Stats() Stats
	Version() string
	ConfigFile() string
	StartTime() time.Time
}

// Stats are the node's request counters (rpcutil#daemon_stats).
type Stats struct {
	Total, Validated, Unvalidated, Passed, Filtered, Replies, TTLExpired, Replayed uint64
}

// Basic is an Agent made of ActionFuncs: the usual way to write one.
type Basic struct {
	Meta    Metadata
	actions map[string]ActionFunc
	names   []string
	ddl     *ddl.DDL
}

// NewFromDDL returns an agent with no actions yet whose metadata (name,
// description, timeout…) comes from d. Build checks that the actions
// added match the DDL's.
func NewFromDDL(d *ddl.DDL) *Basic {
	m := d.Metadata
	b := NewBasic(Metadata{Name: m.Name, Description: m.Description, Author: m.Author, License: m.License,
		Version: m.Version, URL: m.URL, Timeout: d.Timeout()})
	b.ddl = d
	return b
}

// DDL implements Described (nil for an agent made with NewBasic).
func (b *Basic) DDL() *ddl.DDL { return b.ddl }

// NewBasic returns an agent with no actions yet.
func NewBasic(meta Metadata) *Basic {
	if meta.Timeout == 0 {
		meta.Timeout = 10 * time.Second
	}
	return &Basic{Meta: meta, actions: map[string]ActionFunc{}}
}

// Action adds an action. It panics on a duplicate name (a programming
// error in the agent).
func (b *Basic) Action(name string, fn ActionFunc) *Basic {
	if _, dup := b.actions[name]; dup {
		panic(fmt.Sprintf("agent %s: duplicate action %s", b.Meta.Name, name))
	}
	b.actions[name] = fn
	b.names = append(b.names, name)
	sort.Strings(b.names)
	return b
}

// Metadata implements Agent.
func (b *Basic) Metadata() Metadata { return b.Meta }

// Actions implements Agent.
func (b *Basic) Actions() []string { return b.names }

// Run implements Agent.
func (b *Basic) Run(ctx context.Context, action string, req *Request) Reply {
	fn, ok := b.actions[action]
	if !ok {
		return Reply{StatusCode: protocol.UnknownAction, StatusMsg: fmt.Sprintf("Unknown action %s for agent %s", action, b.Meta.Name)}
	}
	data, err := fn(ctx, req)
	if err != nil {
		var ae *Error
		if errors.As(err, &ae) {
			return Reply{StatusCode: ae.Code, StatusMsg: ae.Msg, Data: data}
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return Reply{StatusCode: protocol.Aborted, StatusMsg: fmt.Sprintf("%s#%s timed out after %s", b.Meta.Name, action, b.Meta.Timeout), Data: data}
		}
		return Reply{StatusCode: protocol.UnknownError, StatusMsg: err.Error(), Data: data}
	}
	return Reply{StatusCode: protocol.OK, StatusMsg: "OK", Data: data}
}

var _ Agent = (*Basic)(nil)

// Described is an agent that carries its DDL.
type Described interface {
	DDL() *ddl.DDL
}

// WithDDL wraps a so that its inputs are validated against d: the node
// calls ValidateInput before authorization (the server's Validator
// interface) and hands the action the data it returned, with the DDL's
// defaults filled in, through RunValidated; Run does both. The agent's actions and the DDL's
// must be the same set.
func WithDDL(a Agent, d *ddl.DDL) (Agent, error) {
	name := a.Metadata().Name
	if d.Name() != name {
		return nil, fmt.Errorf("agent %s: the DDL describes agent %s", name, d.Name())
	}
	declared := d.ActionNames()
	actions := a.Actions()
	for _, act := range actions {
		if _, ok := d.Action(act); !ok {
			return nil, fmt.Errorf("agent %s: action %s is not in the DDL (it declares %s)", name, act, strings.Join(declared, ", "))
		}
	}
	if len(actions) != len(declared) {
		have := map[string]bool{}
		for _, act := range actions {
			have[act] = true
		}
		for _, act := range declared {
			if !have[act] {
				return nil, fmt.Errorf("agent %s: the DDL declares action %s but the agent has no handler for it", name, act)
			}
		}
	}
	return &validated{inner: a, ddl: d}, nil
}

// validated is an agent with a DDL.
type validated struct {
	inner Agent
	ddl   *ddl.DDL
}

func (v *validated) Metadata() Metadata {
	m := v.inner.Metadata()
	if m.Timeout == 0 {
		m.Timeout = v.ddl.Timeout()
	}
	return m
}

func (v *validated) Actions() []string { return v.inner.Actions() }

func (v *validated) DDL() *ddl.DDL { return v.ddl }

// ValidateInput implements the server's Validator: the data the action
// is to see (the DDL's defaults filled in), status 0 and "" when the data
// is valid, else the status and reason to reply with.
func (v *validated) ValidateInput(action string, data json.RawMessage) (json.RawMessage, protocol.StatusCode, string) {
	out, err := v.ddl.Validate(action, data)
	if err != nil {
		code, msg := ddlStatus(err)
		return nil, code, msg
	}
	return out, protocol.OK, ""
}

// RunValidated implements the server's Validator: it runs the action on
// data ValidateInput returned, without validating it a second time.
func (v *validated) RunValidated(ctx context.Context, action string, req *Request) Reply {
	return v.inner.Run(ctx, action, req)
}

// Run validates req's data and runs the action with the DDL's defaults
// filled in.
func (v *validated) Run(ctx context.Context, action string, req *Request) Reply {
	data, code, msg := v.ValidateInput(action, req.Data)
	if code != protocol.OK {
		return Reply{StatusCode: code, StatusMsg: msg}
	}
	r := *req
	r.Data = data
	return v.RunValidated(ctx, action, &r)
}

func ddlStatus(err error) (protocol.StatusCode, string) {
	var e *ddl.Error
	if errors.As(err, &e) {
		return e.Code, e.Msg
	}
	return protocol.InvalidData, err.Error()
}

var (
	_ Agent     = (*validated)(nil)
	_ Described = (*validated)(nil)
	_ Described = (*Basic)(nil)
)

// Constructor builds an agent instance for one node.
type Constructor func(n Node) (Agent, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]Constructor{}
	ddls       = map[string]*ddl.DDL{}
)

// RegisterDDL makes a built-in agent's DDL known to nodes (which
// validate with it) and to the CLI (plugin doc, client-side checks),
// without building the agent. It panics on a duplicate. Call it from
// init.
func RegisterDDL(d *ddl.DDL) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := ddls[d.Name()]; dup {
		panic(fmt.Sprintf("DDL %s registered twice", d.Name()))
	}
	ddls[d.Name()] = d
}

// BuiltinDDL returns the registered DDL of a built-in agent.
func BuiltinDDL(name string) (*ddl.DDL, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	d, ok := ddls[name]
	return d, ok
}

// BuiltinDDLs returns the names of the agents with a registered DDL, sorted.
func BuiltinDDLs() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]string, 0, len(ddls))
	for n := range ddls {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

var agentNameRe = regexp.MustCompile(`^[a-z0-9_]+$`)

// Register makes a built-in agent available to every node. It panics on
// a duplicate or invalid name. Call it from init.
func Register(name string, c Constructor) {
	if !agentNameRe.MatchString(name) {
		panic(fmt.Sprintf("invalid agent name %q", name))
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[name]; dup {
		panic(fmt.Sprintf("agent %s registered twice", name))
	}
	registry[name] = c
}

// Registered returns the names of the registered agents, sorted.
func Registered() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Build constructs the named agent for node n. An agent with a DDL (its
// own, see Described, or one registered under its name) comes back
// wrapped by WithDDL.
func Build(name string, n Node) (Agent, error) {
	registryMu.RLock()
	c, ok := registry[name]
	registryMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown agent %q", name)
	}
	a, err := c(n)
	if err != nil {
		return nil, fmt.Errorf("agent %s: %w", name, err)
	}
	var d *ddl.DDL
	if ds, ok := a.(Described); ok {
		d = ds.DDL()
	}
	if d == nil {
		d, _ = BuiltinDDL(name)
	}
	if d == nil {
		return a, nil
	}
	return WithDDL(a, d)
}

// ValidName reports whether name is a valid agent name.
func ValidName(name string) bool { return agentNameRe.MatchString(name) }
