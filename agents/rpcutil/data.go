package rpcutil

import (
	"context"
	"os"
	"runtime"
	"sort"
	"time"

	"github.com/tuttifleet/tutti/agents"
)

// A dataSource answers rpcutil#get_data for one source name: Choria's
// data providers, those that make sense on a tutti node. query is "" when
// the request has none; needsQuery sources refuse that.
type dataSource struct {
	needsQuery bool
	run        func(n agents.Node, query string) map[string]any
}

// dataSources are the sources get_data serves, named as Choria's:
//
//   - choria: the node's own data (agents, classes, counters, uptime,
//     version), Choria's field names; what tutti has no notion of
//     (Autonomous Agent machines, provisioning) is empty or false;
//   - config_item: one configuration key, {present, value}.
//
// Choria's machine_state and scout sources have nothing to report here
// and are not offered.
var dataSources = map[string]dataSource{
	"choria":      {run: choriaData},
	"config_item": {needsQuery: true, run: configItemData},
}

// DataSources lists the source names get_data serves, sorted (rpcutil
// inventory's data_plugins).
func DataSources() []string {
	out := make([]string, 0, len(dataSources))
	for name := range dataSources {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func choriaData(n agents.Node, _ string) map[string]any {
	s := n.Stats()
	ags, classes := n.Agents(), n.Classes()
	if classes == nil {
		classes = []string{}
	}
	return map[string]any{
		"agents":         ags,
		"agents_count":   len(ags),
		"classes":        classes,
		"classes_count":  len(classes),
		"configfile":     n.ConfigFile(),
		"cpus":           runtime.NumCPU(),
		"filtered":       s.Filtered,
		"go_version":     runtime.Version(),
		"goroutines":     runtime.NumGoroutine(),
		"machines":       []string{},
		"machines_count": 0,
		"passed":         s.Passed,
		"pid":            os.Getpid(),
		"provisioning":   false,
		"replies":        s.Replies,
		"total":          s.Total,
		"ttlexpired":     s.TTLExpired,
		"unvalidated":    s.Unvalidated,
		"uptime":         int64(time.Since(n.StartTime()) / time.Second),
		"validated":      s.Validated,
		"version":        n.Version(),
	}
}

func configItemData(n agents.Node, key string) map[string]any {
	v, ok := n.ConfigItem(key)
	if !ok {
		return map[string]any{"present": false, "value": nil}
	}
	return map[string]any{"present": true, "value": v}
}

// getData answers from one data source: its output is the reply's data,
// as on Choria. An unknown source is aborted with the sources there are.
func (r *rpcutil) getData(_ context.Context, req *agents.Request) (any, error) {
	source, err := required(req, "source", 50)
	if err != nil {
		return nil, err
	}
	src, ok := dataSources[source]
	if !ok {
		return nil, agents.Abort("Unknown data plugin %s (this node has %v)", source, DataSources())
	}
	query, _, err := input(req, "query")
	if err != nil {
		return nil, err
	}
	if len(query) > 256 {
		return nil, agents.InvalidData("Validation failed: query is longer than 256 characters")
	}
	if src.needsQuery && query == "" {
		return nil, agents.MissingData("Data plugin %s needs a query", source)
	}
	return src.run(r.n, query), nil
}
