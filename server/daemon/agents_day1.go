package daemon

// The package, process and filemgr agents (issue 22), registered in a
// file of their own so other agents can be added beside them.
import (
	_ "github.com/tuttifleet/tutti/agents/filemgr"
	_ "github.com/tuttifleet/tutti/agents/packages"
	_ "github.com/tuttifleet/tutti/agents/process"
)
