package client

import (
	"github.com/tuttifleet/tutti/connector/protocol"

	"errors"
	"fmt"
)

// ErrFilterRequired is wrapped by the error of a broadcast request that
// selects every node while Options.RequireFilter is set
// (plugin.choria.require_client_filter, as Choria's client does). Nodes
// with the same key refuse such a request too; checking it here says
// so before anything is sent.
var ErrFilterRequired = errors.New("a filter is required (plugin.choria.require_client_filter)")

// checkRequiredFilter refuses a broadcast req whose filter selects by
// nothing but its agent (protocol.Filter.Unfiltered). A directed
// request names its targets in its signed identity filter: it has one.
func (c *Client) checkRequiredFilter(req Request) error {
	if !c.o.RequireFilter || len(req.Targets) > 0 {
		return nil
	}
	agent := req.Agent
	if req.Discovery {
		agent = protocol.DiscoveryAgent
	}
	if req.Filter.Unfiltered(agent) {
		return fmt.Errorf("%w: this request would select every node with agent %s; name the nodes (-I NODE, --nodes FILE) or select them (-F fact=value, -C class, -S expression)", ErrFilterRequired, agent)
	}
	return nil
}
