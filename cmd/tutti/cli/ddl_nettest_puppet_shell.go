package cli

// The DDLs of the nettest, puppet and shell agents (beside the built-in
// agents imported in ddlcheck.go): client-side checks and plugin doc.
import (
	_ "github.com/tuttifleet/tutti/agents/nettest"
	_ "github.com/tuttifleet/tutti/agents/puppet"
	_ "github.com/tuttifleet/tutti/agents/shell"
)
