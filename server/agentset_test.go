package server_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/agents"
	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/server"
	"github.com/tuttifleet/tutti/server/facts"
)

// subConn is a connector fake that tracks live broadcast subscriptions
// by agent and refuses to subscribe agent "refused".
type subConn struct {
	nopConn
	mu   sync.Mutex
	live map[string]int
}

type fakeSub struct {
	c     *subConn
	agent string
	once  sync.Once
}

func (s *fakeSub) Unsubscribe() error {
	s.once.Do(func() {
		s.c.mu.Lock()
		defer s.c.mu.Unlock()
		s.c.live[s.agent]--
		if s.c.live[s.agent] == 0 {
			delete(s.c.live, s.agent)
		}
	})
	return nil
}

func (c *subConn) Subscribe(d connector.Destination, _ connector.Handler) (connector.Subscription, error) {
	if d.Kind != connector.Broadcast {
		return &fakeSub{c: c, agent: "@directed"}, nil
	}
	if d.Agent == "refused" {
		return nil, errors.New("permission denied")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.live[d.Agent]++
	return &fakeSub{c: c, agent: d.Agent}, nil
}

// agentsLive are the agents subscribed in both collectives.
func (c *subConn) agentsLive() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for a, n := range c.live {
		if n == 2 {
			out = append(out, a)
		}
	}
	sort.Strings(out)
	return out
}

func extAgent(name string) agents.Agent {
	return agents.NewBasic(agents.Metadata{Name: name, Timeout: time.Second}).
		Action("go", func(context.Context, *agents.Request) (any, error) { return nil, nil })
}

func TestSetExtraAgents(t *testing.T) {
	ca := newRegRig(t).ca
	p := providerFor(t, ca, "node1.example.net")
	conn := &subConn{live: map[string]int{}}
	l := logrus.New()
	l.SetOutput(io.Discard)
	n, err := server.New(server.Options{
		Settings:  server.Settings{Identity: "node1.example.net", Collectives: []string{"mcollective", "uk"}},
		Connector: conn, Signer: p, Verifier: p, Agents: []string{}, Extra: map[string]agents.Agent{"a": extAgent("a")},
		Facts: facts.Static(nil, nil), Log: logrus.NewEntry(l),
	})
	if err != nil {
		t.Fatal(err)
	}
	// before Start nothing is subscribed
	if err := n.SetExtraAgents(map[string]agents.Agent{"a": extAgent("a"), "b": extAgent("b")}); err != nil {
		t.Fatal(err)
	}
	if live := conn.agentsLive(); len(live) != 0 {
		t.Fatalf("subscribed before Start: %v", live)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	want := func(names ...string) {
		t.Helper()
		if got := n.Agents(); !slices.Equal(got, sorted(append(names, "discovery"))) {
			t.Fatalf("Agents() = %v, want %v and discovery", got, names)
		}
		if live := conn.agentsLive(); !slices.Equal(live, sorted(append(names, "discovery"))) {
			t.Fatalf("subscribed agents %v, want %v and discovery", live, names)
		}
	}
	want("a", "b")

	if err := n.SetExtraAgents(map[string]agents.Agent{"b": extAgent("b"), "c": extAgent("c")}); err != nil {
		t.Fatal(err)
	}
	want("b", "c")

	// all or nothing: a refused subscription or a taken name keeps b, c
	err = n.SetExtraAgents(map[string]agents.Agent{"d": extAgent("d"), "refused": extAgent("refused")})
	if err == nil || !strings.Contains(err.Error(), "previous agents kept") {
		t.Fatalf("refused subscription: %v", err)
	}
	want("b", "c")
	if err := n.SetExtraAgents(map[string]agents.Agent{"discovery": extAgent("discovery")}); err == nil {
		t.Fatal("an external agent took the name discovery")
	}
	want("b", "c")

	n.Shutdown(context.Background())
	if live := conn.agentsLive(); len(live) != 0 {
		t.Fatalf("still subscribed after Shutdown: %v", live)
	}
	if err := n.SetExtraAgents(nil); err == nil {
		t.Fatal("SetExtraAgents after Shutdown succeeded")
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// TestSetExtraAgentsConcurrent runs under -race: readers of the agent
// set (inventory, filters, registration) while reloads swap it.
func TestSetExtraAgentsConcurrent(t *testing.T) {
	ca := newRegRig(t).ca
	p := providerFor(t, ca, "node1.example.net")
	conn := &subConn{live: map[string]int{}}
	l := logrus.New()
	l.SetOutput(io.Discard)
	n, err := server.New(server.Options{
		Settings:  server.Settings{Identity: "node1.example.net", Collectives: []string{"mcollective", "uk"}},
		Connector: conn, Signer: p, Verifier: p, Facts: facts.Static(nil, nil), Log: logrus.NewEntry(l),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown(context.Background())
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if names := n.Agents(); !slices.Contains(names, "rpcutil") || !slices.IsSorted(names) {
					t.Errorf("Agents() = %v", names)
					return
				}
			}
		}()
	}
	for i := 0; i < 200; i++ {
		extra := map[string]agents.Agent{"x": extAgent("x")}
		if i%2 == 0 {
			extra["y"] = extAgent("y")
		}
		if err := n.SetExtraAgents(extra); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if live := conn.agentsLive(); !slices.Contains(live, "x") || slices.Contains(live, "y") {
		t.Fatalf("subscriptions after the last swap: %v", live)
	}
}
