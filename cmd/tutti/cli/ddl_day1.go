package cli

// The DDLs of the package, process and filemgr agents, for client-side
// checks and `tutti plugin doc` (see ddlcheck.go).
import (
	_ "github.com/tuttifleet/tutti/agents/filemgr"
	_ "github.com/tuttifleet/tutti/agents/packages"
	_ "github.com/tuttifleet/tutti/agents/process"
)
