package server

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/agents"
	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/protocol"
)

// agentSet is the node's agents, an immutable snapshot: SetExtraAgents
// swaps it whole, so a request sees either the old set or the new one.
type agentSet struct {
	byName map[string]agents.Agent
	names  []string // sorted, with protocol.DiscoveryAgent
}

func newAgentSet(builtin, extra map[string]agents.Agent) (*agentSet, error) {
	s := &agentSet{byName: make(map[string]agents.Agent, len(builtin)+len(extra))}
	for name, a := range builtin {
		s.byName[name] = a
	}
	for name, a := range extra {
		if _, dup := s.byName[name]; dup || name == protocol.DiscoveryAgent {
			return nil, fmt.Errorf("agent %s is defined twice", name)
		}
		s.byName[name] = a
	}
	for name := range s.byName {
		s.names = append(s.names, name)
	}
	s.names = append(s.names, protocol.DiscoveryAgent)
	sort.Strings(s.names)
	return s, nil
}

// agent returns the agent called name (never "discovery", which the
// pipeline answers itself).
func (n *Node) agent(name string) (agents.Agent, bool) {
	a, ok := n.agentSet.Load().byName[name]
	return a, ok
}

// agentNames are the agent names, sorted, including discovery. The
// caller must not modify the slice.
func (n *Node) agentNames() []string { return n.agentSet.Load().names }

// subscribeAgent subscribes to agent's broadcast subject in every
// collective. On error, the subscriptions it made are undone.
func (n *Node) subscribeAgent(agent string) ([]connector.Subscription, error) {
	var subs []connector.Subscription
	for _, c := range n.cfg.Load().collectiveList {
		sub, err := n.conn.Subscribe(connector.Destination{Kind: connector.Broadcast, Collective: c, Agent: agent}, n.handle)
		if err != nil {
			unsubscribe(subs)
			return nil, fmt.Errorf("subscribe agent %s in %s: %w", agent, c, err)
		}
		subs = append(subs, sub)
	}
	return subs, nil
}

func unsubscribe(subs []connector.Subscription) {
	for _, s := range subs {
		if s != nil {
			_ = s.Unsubscribe()
		}
	}
}

// SetExtraAgents replaces the agents built outside the registry (external
// agents, Options.Extra) with extra, as a reload after rescanning the
// agents directories does. A running node subscribes to the broadcast
// subjects of new agents and unsubscribes from those of removed ones; an
// agent whose name stays is replaced in place (a changed DDL or program).
// Requests already running keep the agent they started with.
//
// It is all or nothing: a name taken by a built-in agent, or a
// subscription the broker refuses, leaves the previous agents in force.
func (n *Node) SetExtraAgents(extra map[string]agents.Agent) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closing.Load() {
		return errors.New("set agents: the node is shutting down")
	}
	next, err := newAgentSet(n.builtin, extra)
	if err != nil {
		return fmt.Errorf("set agents: %w", err)
	}
	prev := n.agentSet.Load()
	var added, removed []string
	for _, name := range next.names {
		if _, ok := prev.byName[name]; !ok && name != protocol.DiscoveryAgent {
			added = append(added, name)
		}
	}
	for _, name := range prev.names {
		if _, ok := next.byName[name]; !ok && name != protocol.DiscoveryAgent {
			removed = append(removed, name)
		}
	}
	newSubs := map[string][]connector.Subscription{}
	if n.running {
		for _, name := range added {
			subs, err := n.subscribeAgent(name)
			if err != nil {
				for _, s := range newSubs {
					unsubscribe(s)
				}
				return fmt.Errorf("set agents (previous agents kept): %w", err)
			}
			newSubs[name] = subs
		}
		if len(newSubs) > 0 {
			n.confirmSubscriptions()
		}
	}
	n.agentSet.Store(next)
	for name, subs := range newSubs {
		n.agentSubs[name] = subs
	}
	for _, name := range removed {
		unsubscribe(n.agentSubs[name])
		delete(n.agentSubs, name)
	}
	if len(added)+len(removed) > 0 {
		n.log.WithFields(logrus.Fields{"added": strings.Join(added, ","), "removed": strings.Join(removed, ",")}).Info("agents changed")
	}
	return nil
}
