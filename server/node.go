// Package server is the node: it subscribes to its agents' subjects,
// runs every request through the pipeline of docs/protocol.md §7 (decode →
// verify → TTL/replay → filter → authorize → audit → agent → signed
// reply) and publishes the reply.
package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/aaa/actionpolicy"
	"github.com/tuttifleet/tutti/aaa/audit"
	"github.com/tuttifleet/tutti/agents"
	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/security"
	"github.com/tuttifleet/tutti/security/replay"
	"github.com/tuttifleet/tutti/server/filter"
	"github.com/tuttifleet/tutti/server/guard"
)

// FactStore is where a node's facts and classes come from
// (server/facts.Store, or a static set in the emulator).
type FactStore interface {
	Fact(path string) (any, bool)
	Facts() map[string]any
	Classes() []string
	HasClass(name string) bool
}

// Authorizer decides whether a request may run (aaa/actionpolicy).
type Authorizer interface {
	Authorize(req actionpolicy.Request) actionpolicy.Decision
}

// Settings are the parts of the node configuration the pipeline reads.
// They are swapped as one immutable snapshot on reload.
type Settings struct {
	Identity       string
	Collectives    []string
	MaxTTL         time.Duration // 0 = no bound beyond the protocol's
	MaxMessageSize int
	// AnyReplyTo turns strict_reply_to off: the node then replies to
	// whatever reply-to a request names. The zero value is strict.
	AnyReplyTo    bool
	AuditRequired bool
	// SoftShutdown is how long in-flight requests may run at shutdown.
	SoftShutdown time.Duration
	// FilterLimits bound the filters of requests; the zero value is
	// filter.DefaultLimits().
	FilterLimits filter.Limits
	// Workers is the most requests run at once (0: DefaultWorkers());
	// QueueSize the most waiting for a worker (0: 1024). See pool.go.
	Workers, QueueSize int
	// Guard is the blast-radius guard (require_client_filter and the
	// guarded actions); the zero value guards nothing. See blastradius.go.
	Guard guard.Policy
	// AgentConcurrency caps the requests an agent runs at once
	// (plugin.tutti.agent.<agent>.concurrency; 0: no cap). Agents not
	// named: external agents half the workers, built-in ones no cap
	// beyond the workers. See overload.go.
	AgentConcurrency map[string]int
	// RateLimit is the requests per second each verified caller may
	// send (0: no limit), RateBurst its bucket (0: twice RateLimit).
	RateLimit float64
	RateBurst int
}

type runtimeConfig struct {
	maxTTL           time.Duration
	maxMessageSize   int
	filterLimits     filter.Limits
	strictReplyTo    bool
	auditRequired    bool
	collectives      map[string]bool
	collectiveList   []string
	softShutdown     time.Duration
	workers          int
	queueSize        int
	guard            guard.Policy
	agentConcurrency map[string]int
	rateLimit        float64
	rateBurst        int
}

// Options build a Node. Every dependency is passed in so the emulator can
// build thousands of independent nodes in one process.
type Options struct {
	Settings  Settings
	Connector connector.Connector
	Signer    security.Signer
	Verifier  security.Verifier
	Facts     FactStore
	// Authorizer is nil when rpcauthorization is off.
	Authorizer Authorizer
	// Auditor is nil when rpcaudit is off.
	Auditor audit.Auditor
	// Replay is nil when the replay cache is disabled.
	Replay *replay.Cache
	// Agents to load, by registered name; nil loads every registered agent.
	Agents []string
	// Extra agents built elsewhere (external agents), by name.
	Extra map[string]agents.Agent
	// ConfigItem answers rpcutil#get_config_item; nil answers nothing.
	ConfigItem func(key string) (string, bool)
	ConfigFile string
	// MCollective, when set, makes the node answer MCollective 2.12
	// requests (ssl plugin) instead of Choria ones; Verifier is then
	// security/mcossl's and Signer is not used.
	MCollective *MCollective
	Log         *logrus.Entry
	Now         func() time.Time
}

// Node is one tuttid instance.
type Node struct {
	identity   string
	conn       connector.Connector
	signer     security.Signer
	verifier   security.Verifier
	facts      FactStore
	replay     *replay.Cache
	authorizer atomic.Pointer[Authorizer]
	auditor    atomic.Pointer[audit.Auditor]
	cfg        atomic.Pointer[runtimeConfig]
	// builtin are the agents built from the registry; agentSet adds
	// the extra (external) ones and is swapped by SetExtraAgents.
	builtin  map[string]agents.Agent
	agentSet atomic.Pointer[agentSet]
	view     *view
	mco      *MCollective // nil: Choria mode
	log      *logrus.Entry
	now      func() time.Time
	started  time.Time
	stats    counters
	metrics  *Metrics
	opts     Options

	mu        sync.Mutex
	running   bool                                // Start subscribed
	subs      []connector.Subscription            // directed subjects
	agentSubs map[string][]connector.Subscription // broadcast subjects by agent
	// inflight counts queued and running requests.
	inflight sync.WaitGroup
	sched    scheduler
	slots    agentSlots  // running requests per agent, for the caps
	rates    callerRates // per verified caller, for the rate limit and its metric
	loadLog  loadLog
	closing  atomic.Bool
	stopOnce sync.Once
	// requests is the context every request runs under; Shutdown
	// cancels it (cancelRequests) when the requests outlast the grace.
	requests       context.Context
	cancelRequests context.CancelFunc
}

// cancelGrace is how long Shutdown still waits for requests once it has
// cancelled them.
const cancelGrace = time.Second

// New builds a node and its agents. It does not connect anything yet.
func New(o Options) (*Node, error) {
	if o.Connector == nil || (o.Signer == nil && o.MCollective == nil) || o.Verifier == nil || o.Facts == nil {
		return nil, errors.New("server: connector, signer, verifier and facts are required")
	}
	if o.MCollective != nil && (o.MCollective.Serializer == nil || o.MCollective.ServerKey == nil) {
		return nil, errors.New("server: MCollective mode needs a serializer and the server key")
	}
	if o.Settings.Identity == "" || len(o.Settings.Collectives) == 0 {
		return nil, errors.New("server: identity and collectives are required")
	}
	if o.Log == nil {
		l := logrus.New()
		o.Log = logrus.NewEntry(l)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	n := &Node{
		identity: o.Settings.Identity, conn: o.Connector, signer: o.Signer, verifier: o.Verifier, facts: o.Facts,
		replay: o.Replay, log: o.Log.WithField("component", "node"), now: o.Now, started: o.Now(),
		builtin: map[string]agents.Agent{}, agentSubs: map[string][]connector.Subscription{}, opts: o, metrics: NewMetrics(nil),
		mco: o.MCollective,
	}
	n.requests, n.cancelRequests = context.WithCancel(context.Background())
	n.view = &view{n: n}
	n.applySettings(o.Settings)
	n.SetAuthorizer(o.Authorizer)
	n.SetAuditor(o.Auditor)
	names := o.Agents
	if names == nil {
		names = agents.Registered()
	}
	for _, name := range names {
		a, err := agents.Build(name, n.view)
		if err != nil {
			return nil, err
		}
		n.builtin[name] = a
	}
	set, err := newAgentSet(n.builtin, o.Extra)
	if err != nil {
		return nil, err
	}
	n.agentSet.Store(set)
	return n, nil
}

func (n *Node) applySettings(s Settings) {
	rc := &runtimeConfig{
		maxTTL: s.MaxTTL, maxMessageSize: s.MaxMessageSize, strictReplyTo: !s.AnyReplyTo,
		auditRequired: s.AuditRequired, collectives: map[string]bool{}, collectiveList: s.Collectives,
		softShutdown: s.SoftShutdown, filterLimits: s.FilterLimits, workers: s.Workers, queueSize: s.QueueSize,
		guard: s.Guard, agentConcurrency: s.AgentConcurrency, rateLimit: s.RateLimit, rateBurst: s.RateBurst,
	}
	if rc.filterLimits == (filter.Limits{}) {
		rc.filterLimits = filter.DefaultLimits()
	}
	for _, c := range s.Collectives {
		rc.collectives[c] = true
	}
	n.cfg.Store(rc)
}

// SetMetrics replaces the node's metrics (Prometheus when enabled).
func (n *Node) SetMetrics(m *Metrics) {
	n.metrics = m
	m.watchCallers(&n.rates, n.now)
}

// SetAuthorizer swaps the authorizer (nil disables authorization).
func (n *Node) SetAuthorizer(a Authorizer) { n.authorizer.Store(&a) }

// SetAuditor swaps the auditor (nil disables auditing).
func (n *Node) SetAuditor(a audit.Auditor) { n.auditor.Store(&a) }

// UpdateSettings swaps the reloadable settings (identity and collectives
// need a restart: they change the subscriptions).
func (n *Node) UpdateSettings(s Settings) { n.applySettings(s) }

// Identity is the node's identity.
func (n *Node) Identity() string { return n.identity }

// Start subscribes to the broadcast subject of every agent in every
// collective, and to the node's directed subject.
func (n *Node) Start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range n.cfg.Load().collectiveList {
		sub, err := n.conn.Subscribe(connector.Destination{Kind: connector.Directed, Collective: c, Identity: n.identity}, n.handle)
		if err != nil {
			return fmt.Errorf("subscribe %s %s: %w", connector.Directed, c, err)
		}
		n.subs = append(n.subs, sub)
	}
	for _, a := range n.agentNames() {
		subs, err := n.subscribeAgent(a)
		if err != nil {
			return err
		}
		n.agentSubs[a] = subs
	}
	n.confirmSubscriptions()
	n.running = true
	n.log.WithFields(logrus.Fields{"identity": n.identity, "agents": strings.Join(n.agentNames(), ","),
		"collectives": strings.Join(n.cfg.Load().collectiveList, ",")}).Info("node ready")
	return nil
}

// confirmSubscriptions waits until the broker has the subscriptions made
// so far: ready means subscribed, or a request published right after
// Start or a reload (or after systemd hears READY=1) can miss this node.
// Best effort: a broker that is away now gets them again on reconnect.
func (n *Node) confirmSubscriptions() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := n.conn.Flush(ctx)
	switch {
	case errors.Is(err, connector.ErrDenied):
		// The broker's permissions refused a subscription (a node
		// certificate may read only its own directed subject): those
		// requests will never reach this node.
		n.log.WithError(err).Error("the broker refused a subscription")
	case err != nil:
		n.log.WithError(err).Warn("the broker did not confirm the subscriptions yet; they are sent again on reconnect")
	}
}

// handle is the connector callback: it queues the request for the
// node's bounded pool of workers (pool.go), so a slow action never holds
// up the subscription and a flood cannot grow the node without bound.
func (n *Node) handle(m connector.Message) {
	if n.closing.Load() {
		return
	}
	n.inflight.Add(1)
	n.enqueue(m)
}

// HandleMessage processes one message and publishes the reply. The
// action runs under ctx; the reply is published even when ctx was
// cancelled (an action cut short by shutdown still answers).
func (n *Node) HandleMessage(ctx context.Context, m connector.Message) {
	n.publish(ctx, n.process(ctx, m.Destination, n.decodeMessage(m)))
}

// publish sends out's reply, if it has one.
func (n *Node) publish(ctx context.Context, out Outcome) {
	if out.Reply == nil {
		return
	}
	if out.ReplyTo == "" {
		n.log.WithField("request", out.Request.ID).Warn("request has no reply-to; reply dropped")
		return
	}
	if err := n.conn.Publish(context.WithoutCancel(ctx), connector.Destination{Kind: connector.Reply, ReplyTo: out.ReplyTo}, out.Reply); err != nil {
		n.log.WithError(err).WithField("request", out.Request.ID).Error("publish reply failed")
		return
	}
	n.stats.replies.Add(1)
}

// Shutdown stops taking requests and waits up to the soft shutdown
// timeout (or until ctx ends) for in-flight requests. Requests still
// running then have their context cancelled and get cancelGrace more to
// return, within ctx. It is idempotent.
func (n *Node) Shutdown(ctx context.Context) {
	n.stopOnce.Do(func() {
		defer n.cancelRequests()
		n.closing.Store(true)
		n.mu.Lock()
		unsubscribe(n.subs)
		n.subs = nil
		for name, subs := range n.agentSubs {
			unsubscribe(subs)
			delete(n.agentSubs, name)
		}
		n.running = false
		n.mu.Unlock()
		done := make(chan struct{})
		go func() { n.inflight.Wait(); close(done) }()
		wait := n.cfg.Load().softShutdown
		if wait <= 0 {
			wait = 2 * time.Second
		}
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-done:
			return
		case <-t.C:
			n.log.Warn("shutdown: in-flight requests still running after the soft shutdown timeout; cancelling them")
		case <-ctx.Done():
		}
		n.cancelRequests()
		grace := time.NewTimer(cancelGrace)
		defer grace.Stop()
		select {
		case <-done:
		case <-grace.C:
		case <-ctx.Done():
		}
	})
}

// Stats returns the request counters.
func (n *Node) Stats() agents.Stats { return n.stats.snapshot() }

// Agents returns the loaded agent names (including discovery), sorted.
func (n *Node) Agents() []string { return n.agentNames() }

type counters struct {
	total, validated, unvalidated, passed, filtered, replies, ttlExpired, replayed atomic.Uint64
}

func (c *counters) snapshot() agents.Stats {
	return agents.Stats{
		Total: c.total.Load(), Validated: c.validated.Load(), Unvalidated: c.unvalidated.Load(),
		Passed: c.passed.Load(), Filtered: c.filtered.Load(), Replies: c.replies.Load(),
		TTLExpired: c.ttlExpired.Load(), Replayed: c.replayed.Load(),
	}
}
