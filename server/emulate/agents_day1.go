package emulate

// The package, process and filemgr agents, as tuttid
// (server/daemon/agents_day1.go) loads them.
import (
	_ "github.com/tuttifleet/tutti/agents/filemgr"
	_ "github.com/tuttifleet/tutti/agents/packages"
	_ "github.com/tuttifleet/tutti/agents/process"
)
