package daemon

// The nettest, puppet and shell agents register themselves (beside the
// built-in agents imported in agents.go).
import (
	_ "github.com/tuttifleet/tutti/agents/nettest"
	_ "github.com/tuttifleet/tutti/agents/puppet"
	_ "github.com/tuttifleet/tutti/agents/shell"
)
