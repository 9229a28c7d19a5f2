package server

import (
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/tuttifleet/tutti/agents"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/server/version"
)

// view is the node as filters, policies and agents see it. It
// implements filter.Node, protocol.FactSource, actionpolicy.ClassSource
// and agents.Node, so none of them needs the Node itself.
type view struct{ n *Node }

func (v *view) Identity() string             { return v.n.identity }
func (v *view) Fact(path string) (any, bool) { return v.n.facts.Fact(path) }
func (v *view) Facts() map[string]any        { return v.n.facts.Facts() }
func (v *view) Classes() []string            { return v.n.facts.Classes() }
func (v *view) HasClass(name string) bool    { return v.n.facts.HasClass(name) }
func (v *view) Agents() []string             { return v.n.agentNames() }
func (v *view) Collectives() []string        { return v.n.cfg.Load().collectiveList }
func (v *view) Stats() agents.Stats          { return v.n.stats.snapshot() }
func (v *view) Version() string              { return version.Version }
func (v *view) ConfigFile() string           { return v.n.opts.ConfigFile }
func (v *view) StartTime() time.Time         { return v.n.started }
func (v *view) MatchClass(re *regexp.Regexp) bool {
	for _, c := range v.n.facts.Classes() {
		if re.MatchString(c) {
			return true
		}
	}
	return false
}

func (v *view) HasAgent(name string) bool {
	names := v.n.agentNames()
	i := sort.SearchStrings(names, name)
	return i < len(names) && names[i] == name
}

func (v *view) MainCollective() string {
	if l := v.n.cfg.Load().collectiveList; len(l) > 0 {
		return l[0]
	}
	return ""
}

// secretish keys are never revealed by get_config_item.
var secretish = []string{"pass", "password", "secret", "token", "key", "credentials", "seed"}

func (v *view) ConfigItem(key string) (string, bool) {
	if v.n.opts.ConfigItem == nil {
		return "", false
	}
	lk := strings.ToLower(key)
	for _, s := range secretish {
		if strings.HasSuffix(lk, s) || strings.Contains(lk, "."+s) {
			return "[redacted]", true
		}
	}
	return v.n.opts.ConfigItem(key)
}

// AgentMetadata implements rpcutil's Inventories.
func (v *view) AgentMetadata() []agents.Metadata {
	set := v.n.agentSet.Load()
	out := make([]agents.Metadata, 0, len(set.names))
	for _, name := range set.names {
		if a, ok := set.byName[name]; ok {
			out = append(out, a.Metadata())
		} else if name == protocol.DiscoveryAgent {
			out = append(out, agents.Metadata{Name: protocol.DiscoveryAgent, Description: "Discovery agent", Author: "tutti",
				License: "Apache-2.0", Version: version.Version, Timeout: 2 * time.Second})
		}
	}
	return out
}
