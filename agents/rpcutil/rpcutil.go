// Package rpcutil is the rpcutil agent every Choria client expects
// (docs/protocol.md §14.2): ping, inventory, agent_inventory, get_data
// (data sources choria and config_item) and friends: every action of
// Choria's rpcutil.
package rpcutil

import (
	"context"
	_ "embed"
	"encoding/json"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/tuttifleet/tutti/agents"
	"github.com/tuttifleet/tutti/agents/ddl"
)

//go:embed rpcutil.json
var ddlJSON []byte

// DDL describes rpcutil's actions (Choria's rpcutil DDL).
var DDL = ddl.MustParse(ddlJSON)

func init() {
	agents.RegisterDDL(DDL)
	agents.Register("rpcutil", New)
}

// New builds the rpcutil agent for node n.
func New(n agents.Node) (agents.Agent, error) {
	a := agents.NewFromDDL(DDL)
	a.Meta.Version = n.Version()
	r := &rpcutil{n: n}
	a.Action("ping", r.ping).
		Action("inventory", r.inventory).
		Action("agent_inventory", r.agentInventory).
		Action("collective_info", r.collectiveInfo).
		Action("daemon_stats", r.daemonStats).
		Action("get_fact", r.getFact).
		Action("get_facts", r.getFacts).
		Action("get_config_item", r.getConfigItem).
		Action("get_data", r.getData)
	return a, nil
}

type rpcutil struct{ n agents.Node }

// pingReply encodes as {"pong":<unix seconds>}, like a one-key map, but
// without the map's allocation and key sorting.
type pingReply struct {
	Pong int64 `json:"pong"`
}

func (r *rpcutil) ping(context.Context, *agents.Request) (any, error) {
	return pingReply{Pong: time.Now().Unix()}, nil
}

func (r *rpcutil) inventory(context.Context, *agents.Request) (any, error) {
	classes := r.n.Classes()
	if classes == nil {
		classes = []string{}
	}
	return map[string]any{
		"agents":          r.n.Agents(),
		"facts":           r.n.Facts(),
		"classes":         classes,
		"version":         r.n.Version(),
		"main_collective": r.n.MainCollective(),
		"collectives":     r.n.Collectives(),
		"data_plugins":    DataSources(),
		"machines":        []any{},
		"upgradable":      false,
	}, nil
}

// Inventories returns every agent's metadata, set by the node after all
// agents are built (agent_inventory needs the others' metadata).
type Inventories interface {
	AgentMetadata() []agents.Metadata
}

func (r *rpcutil) agentInventory(context.Context, *agents.Request) (any, error) {
	inv, ok := r.n.(Inventories)
	if !ok {
		return nil, agents.Abort("agent inventory is not available on this node")
	}
	out := []map[string]any{}
	for _, m := range inv.AgentMetadata() {
		out = append(out, map[string]any{
			"agent": m.Name, "name": m.Name, "description": m.Description, "author": m.Author,
			"license": m.License, "version": m.Version, "url": m.URL, "timeout": int(m.Timeout / time.Second),
		})
	}
	return map[string]any{"agents": out}, nil
}

func (r *rpcutil) collectiveInfo(context.Context, *agents.Request) (any, error) {
	return map[string]any{"main_collective": r.n.MainCollective(), "collectives": r.n.Collectives()}, nil
}

func (r *rpcutil) daemonStats(context.Context, *agents.Request) (any, error) {
	s := r.n.Stats()
	utime, stime := cpuTimes()
	return map[string]any{
		"threads":     []string{},
		"agents":      r.n.Agents(),
		"pid":         os.Getpid(),
		"times":       map[string]float64{"utime": utime, "stime": stime, "cutime": 0, "cstime": 0},
		"validated":   s.Validated,
		"unvalidated": s.Unvalidated,
		"passed":      s.Passed,
		"filtered":    s.Filtered,
		"starttime":   r.n.StartTime().Unix(),
		"total":       s.Total,
		"replies":     s.Replies,
		"configfile":  r.n.ConfigFile(),
		"version":     r.n.Version(),
		"ttlexpired":  s.TTLExpired,
		"replayed":    s.Replayed,
		"events":      0,
		"goroutines":  runtime.NumGoroutine(),
	}, nil
}

func input(req *agents.Request, name string) (string, bool, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(req.Data, &m); err != nil {
		return "", false, agents.InvalidData("Could not process request: %v", err)
	}
	raw, ok := m[name]
	if !ok {
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, agents.InvalidData("Validation failed: %s must be a string", name)
	}
	return s, true, nil
}

func required(req *agents.Request, name string, max int) (string, error) {
	s, ok, err := input(req, name)
	if err != nil {
		return "", err
	}
	if !ok || s == "" {
		return "", agents.MissingData("Action %s needs a %s argument", req.Action, name)
	}
	if max > 0 && len(s) > max {
		return "", agents.InvalidData("Validation failed: %s is longer than %d characters", name, max)
	}
	return s, nil
}

func (r *rpcutil) getFact(_ context.Context, req *agents.Request) (any, error) {
	name, err := required(req, "fact", 512)
	if err != nil {
		return nil, err
	}
	v, _ := r.n.Fact(name)
	return map[string]any{"fact": name, "value": v}, nil
}

func (r *rpcutil) getFacts(_ context.Context, req *agents.Request) (any, error) {
	list, err := required(req, "facts", 0)
	if err != nil {
		return nil, err
	}
	values := map[string]any{}
	for _, name := range strings.Split(list, ",") {
		if name = strings.TrimSpace(name); name != "" {
			v, _ := r.n.Fact(name)
			values[name] = v
		}
	}
	return map[string]any{"values": values}, nil
}

func (r *rpcutil) getConfigItem(_ context.Context, req *agents.Request) (any, error) {
	item, err := required(req, "item", 0)
	if err != nil {
		return nil, err
	}
	v, ok := r.n.ConfigItem(item)
	if !ok {
		return map[string]any{"item": item, "value": nil}, nil
	}
	return map[string]any{"item": item, "value": v}, nil
}
