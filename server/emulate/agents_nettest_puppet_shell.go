package emulate

// The nettest, puppet and shell agents, as tuttid loads them (beside the
// built-in agents imported in emulate.go). shell is off on emulated nodes
// as on any node without plugin.tutti.shell.enabled.
import (
	_ "github.com/tuttifleet/tutti/agents/nettest"
	_ "github.com/tuttifleet/tutti/agents/puppet"
	_ "github.com/tuttifleet/tutti/agents/shell"
)
