package daemon

import (
	"fmt"
	"sort"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/agents"
	"github.com/tuttifleet/tutti/agents/external"
	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/connector/protocol"

	// built-in agents register themselves
	_ "github.com/tuttifleet/tutti/agents/discovery"
	_ "github.com/tuttifleet/tutti/agents/rpcutil"
	_ "github.com/tuttifleet/tutti/agents/service"
)

// externalAgents loads the external agents of the configured agents
// directories (plugin.tutti.agents_dir, then <libdir>/mcollective/agent).
// An agent that cannot be loaded is logged and left out rather than
// keeping the node down; the first directory wins when a name appears
// twice, and a built-in agent's name cannot be taken.
func externalAgents(cfg *config.Server, log *logrus.Entry) map[string]agents.Agent {
	log = log.WithField("component", "agents")
	builtin := map[string]bool{protocol.DiscoveryAgent: true}
	for _, n := range agents.Registered() {
		builtin[n] = true
	}
	out := map[string]agents.Agent{}
	for _, dir := range external.Dirs(cfg.AgentDirs, cfg.LibDirs) {
		found := external.Scan(dir, external.Options{Log: log})
		for _, err := range found.Errors {
			log.WithError(err).Error("external agent not loaded")
		}
		names := make([]string, 0, len(found.Agents))
		for n := range found.Agents {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			switch {
			case builtin[n]:
				log.Errorf("external agent %s in %s not loaded: %s is a built-in agent", n, dir, n)
			case out[n] != nil:
				log.Warnf("external agent %s in %s not loaded: already loaded from an earlier directory", n, dir)
			default:
				out[n] = found.Agents[n]
			}
		}
		if len(found.DDLOnly) > 0 {
			log.Debugf("DDLs without a program in %s (documentation only): %s", dir, strings.Join(found.DDLOnly, ", "))
		}
	}
	if len(out) > 0 {
		names := make([]string, 0, len(out))
		for n := range out {
			names = append(names, n)
		}
		sort.Strings(names)
		log.Info(fmt.Sprintf("external agents loaded: %s", strings.Join(names, ", ")))
	}
	return out
}
