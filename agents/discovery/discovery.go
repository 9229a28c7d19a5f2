// Package discovery holds the DDL of the discovery agent, so that
// `tutti plugin doc discovery` can describe it. The agent itself is not
// an RPC agent: the node answers a discovery ping in its pipeline
// (server/pipeline.go, docs/protocol.md §12), before authorization and audit.
package discovery

import (
	_ "embed"

	"github.com/tuttifleet/tutti/agents"
	"github.com/tuttifleet/tutti/agents/ddl"
)

//go:embed discovery.json
var ddlJSON []byte

// DDL describes the discovery agent.
var DDL = ddl.MustParse(ddlJSON)

func init() { agents.RegisterDDL(DDL) }
