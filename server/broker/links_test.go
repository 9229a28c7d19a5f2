package broker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tuttifleet/tutti/aaa/audit"

	"github.com/tuttifleet/tutti/server/broker"
	"github.com/tuttifleet/tutti/server/broker/brokertest"
)

// The brokers of the two data centres and the pattern of their link
// certificates.
const (
	hubName  = "broker.dca.example.net"
	leafName = "broker.dcb.example.net"
	linkRe   = `^broker\.dc[a-z]\.example\.net$`
	alice    = "alice.mcollective"
)

// dcConfig is one data centre's broker: JetStream in its own domain,
// links only from link certificates.
func dcConfig(t *testing.T, pki *brokertest.PKI, name, domain string) broker.Config {
	cfg := brokertest.Config(t, pki, name)
	cfg.LinkCertificates = []string{linkRe}
	cfg.JetStreamDir = t.TempDir()
	cfg.JetStreamDomain = domain
	cfg.Authorization = broker.Authorization{Admins: []string{`^admin\.ops$`}}
	return cfg
}

// startLeafPair starts the hub (DC A, leafnode port, central audit
// stream sourcing DC B's) and the leaf (DC B) connected to it, through
// px when not nil: the hub then advertises the proxy's address, as a
// hub behind NAT would, so that every leafnode connection goes through it.
func startLeafPair(t *testing.T, pki *brokertest.PKI, px *brokertest.Proxy) (hub, leaf *broker.Broker) {
	t.Helper()
	hcfg := dcConfig(t, pki, hubName, "dca")
	hcfg.LeafPort = -1
	hcfg.AuditStream.Sources = []string{"dcb"}
	if px != nil {
		hcfg.LeafAdvertise = px.Addr()
	}
	hub = brokertest.Start(t, hcfg)
	url := hub.LeafURL()
	if px != nil {
		px.SetTarget(url[len("nats://"):])
		url = px.URL()
	}
	lcfg := dcConfig(t, pki, leafName, "dcb")
	lcfg.LeafRemotes = []broker.LeafRemote{{Name: "dca", URLs: []string{url}}}
	leaf = brokertest.Start(t, lcfg)
	waitLinks(t, hub, leaf, 1)
	return hub, leaf
}

func waitLinks(t *testing.T, hub, leaf *broker.Broker, want int) {
	t.Helper()
	brokertest.Eventually(t, 20*time.Second, func() error {
		if h, l := hub.NumLeafNodes(), leaf.NumLeafNodes(); h != want || l != want {
			return fmt.Errorf("leafnode links: hub %d, leaf %d, want %d", h, l, want)
		}
		return nil
	})
}

// echoNode answers every request to its directed subject with its name,
// on the reply subject the request carries as its payload.
func echoNode(t *testing.T, pki *brokertest.PKI, url, name string) {
	t.Helper()
	nc := mustConnect(t, pki, url, name)
	if _, err := nc.Subscribe("mcollective.node."+name, func(m *natsgo.Msg) {
		_ = nc.Publish(string(m.Data), []byte(name))
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// requester is alice's client on one broker: ask sends a directed
// request and waits for the answer.
type requester struct {
	nc      *natsgo.Conn
	replies *natsgo.Subscription
	n       atomic.Int64
}

func newRequester(t *testing.T, pki *brokertest.PKI, url string) *requester {
	t.Helper()
	nc := mustConnect(t, pki, url, alice)
	sub, err := nc.SubscribeSync("mcollective.reply." + replyHash("choria="+alice) + ".>")
	if err != nil {
		t.Fatal(err)
	}
	return &requester{nc: nc, replies: sub}
}

// ask asks node and returns its answer, or an error when none came
// within wait.
func (r *requester) ask(node string, wait time.Duration) error {
	reply := fmt.Sprintf("mcollective.reply.%s.req%d", replyHash("choria="+alice), r.n.Add(1))
	if err := r.nc.Publish("mcollective.node."+node, []byte(reply)); err != nil {
		return err
	}
	for deadline := time.Now().Add(wait); ; {
		m, err := r.replies.NextMsg(time.Until(deadline))
		if err != nil {
			return fmt.Errorf("%s did not answer %s: %w", node, reply, err)
		}
		if m.Subject == reply && string(m.Data) == node {
			return nil
		}
	}
}

// TestLeafnodeLink: a node behind each side answers a client on the
// other; the link holds the broker permissions (a client in DC B cannot
// subscribe to a DC A caller's replies), and a node certificate cannot
// open a leafnode link.
func TestLeafnodeLink(t *testing.T) {
	pki := brokertest.NewPKI(t, "fleet")
	hub, leaf := startLeafPair(t, pki, nil)
	echoNode(t, pki, hub.ClientURL(), "node-a.example.net")
	echoNode(t, pki, leaf.ClientURL(), "node-b.example.net")
	for _, tc := range []struct{ client, node string }{
		{hub.ClientURL(), "node-b.example.net"},
		{leaf.ClientURL(), "node-a.example.net"},
	} {
		r := newRequester(t, pki, tc.client)
		// interest crosses the link asynchronously: ask until answered
		brokertest.Eventually(t, 20*time.Second, func() error { return r.ask(tc.node, 200*time.Millisecond) })
	}

	bob, err := natsgo.Connect(leaf.ClientURL(), natsgo.Secure(pki.ClientTLS(t, "bob.mcollective")),
		natsgo.PermissionErrOnSubscribe(true), natsgo.ErrorHandler(func(*natsgo.Conn, *natsgo.Subscription, error) {}))
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	if canSubscribe(t, bob, "mcollective.reply."+replyHash("choria="+alice)+".>") {
		t.Error("a client in DC B may subscribe to a DC A caller's replies")
	}

	// A node certificate (same CA) dialing the hub's leafnode port as a
	// broker is refused by the hub.
	rogue := dcConfig(t, pki, "node-c.example.net", "dcc")
	rogue.LeafRemotes = []broker.LeafRemote{{Name: "dca", URLs: []string{hub.LeafURL()}}}
	brokertest.Start(t, rogue)
	brokertest.Eventually(t, 20*time.Second, func() error {
		if n := hub.Denials().Refused()["leafnode"]; n == 0 {
			return errors.New("the hub has not refused the node certificate's leafnode link yet")
		}
		return nil
	})
	if n := hub.NumLeafNodes(); n != 1 {
		t.Errorf("hub has %d leafnode links, want only the leaf's", n)
	}
}

// freePorts are n ports free now.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out
}

// TestGatewaysInterestOnly: two clusters joined by gateways; a node in B
// answers a client in A, and requests to a collective nobody in B listens
// to never cross.
func TestGatewaysInterestOnly(t *testing.T) {
	pki := brokertest.NewPKI(t, "fleet")
	ports := freePorts(t, 2)
	gw := func(name string, port int, other string, otherPort int) broker.Config {
		cfg := brokertest.Config(t, pki, name)
		cfg.LinkCertificates = []string{linkRe}
		cfg.GatewayName, cfg.GatewayPort = name[len("broker."):len("broker.")+3], port
		cfg.GatewayRemotes = []broker.GatewayRemote{{Name: other, URLs: []string{fmt.Sprintf("nats://127.0.0.1:%d", otherPort)}}}
		return cfg
	}
	a := brokertest.Start(t, gw(hubName, ports[0], "dcb", ports[1]))
	b := brokertest.Start(t, gw(leafName, ports[1], "dca", ports[0]))
	brokertest.Eventually(t, 20*time.Second, func() error {
		if a.NumGateways() != 1 || b.NumGateways() != 1 {
			return fmt.Errorf("gateways: a %d, b %d", a.NumGateways(), b.NumGateways())
		}
		return nil
	})
	echoNode(t, pki, b.ClientURL(), "node-b.example.net")
	r := newRequester(t, pki, a.ClientURL())
	brokertest.Eventually(t, 20*time.Second, func() error { return r.ask("node-b.example.net", 200*time.Millisecond) })

	out := func() (int64, string) {
		gz, err := a.Server().Gatewayz(&server.GatewayzOptions{Accounts: true})
		if err != nil {
			t.Fatal(err)
		}
		og := gz.OutboundGateways["dcb"]
		if og == nil || og.Connection == nil {
			t.Fatalf("no outbound gateway to dcb: %+v", gz)
		}
		mode := ""
		for _, acc := range og.Accounts {
			if acc.Name == "$G" {
				mode = acc.InterestMode
			}
		}
		return og.Connection.OutMsgs, mode
	}
	before, mode := out()
	if mode != "Interest-Only" {
		t.Errorf("global account's gateway mode %q, want Interest-Only", mode)
	}
	for i := range 100 {
		if err := r.nc.Publish("other.broadcast.agent.rpcutil", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	// The system account's own events ($SYS) cross too, a few a second:
	// 100 requests crossing would show far above them.
	if after, _ := out(); after-before >= 10 {
		t.Errorf("%d messages crossed to dcb while 100 requests went to a collective nobody there listens to", after-before)
	}
}

// TestLeafPartitionAuditCatchUp: requests flow in both data centres while
// the link is cut: each DC's own node keeps answering its own clients,
// the other DC's node does not answer (the client reports it missing), and
// each DC's audit records land in its own stream. Once the link heals the
// hub's central stream holds every record of both DCs exactly once.
func TestLeafPartitionAuditCatchUp(t *testing.T) {
	pki := brokertest.NewPKI(t, "fleet")
	px := brokertest.NewProxy(t)
	hub, leaf := startLeafPair(t, pki, px)
	waitAuditStream(t, hub)
	waitAuditStream(t, leaf)
	echoNode(t, pki, hub.ClientURL(), "node-a.example.net")
	echoNode(t, pki, leaf.ClientURL(), "node-b.example.net")
	ra, rb := newRequester(t, pki, hub.ClientURL()), newRequester(t, pki, leaf.ClientURL())
	brokertest.Eventually(t, 20*time.Second, func() error { return ra.ask("node-b.example.net", 200*time.Millisecond) })

	wa := newAuditWriter(t, pki, hub.ClientURL(), "node-a.example.net", broker.NodeAuditPrefix+"node-a.example.net")
	wb := newAuditWriter(t, pki, leaf.ClientURL(), "node-b.example.net", broker.NodeAuditPrefix+"node-b.example.net")
	written := 0
	record := func() {
		t.Helper()
		for _, w := range []*auditWriter{wa, wb} {
			r := &audit.Record{RequestID: fmt.Sprintf("%s-%04d", w.name, written), Agent: "rpcutil", Action: "ping",
				Caller: "choria=" + alice, Decision: audit.Allow, Identity: w.name}
			if err := w.spool.Audit(context.Background(), r); err != nil {
				t.Fatal(err)
			}
		}
		written++
	}
	for range 5 {
		record()
	}

	px.Cut()
	waitLinks(t, hub, leaf, 0)
	for range 10 {
		record()
		if err := ra.ask("node-a.example.net", 2*time.Second); err != nil {
			t.Errorf("DC A during the partition: %v", err)
		}
		if err := rb.ask("node-b.example.net", 2*time.Second); err != nil {
			t.Errorf("DC B during the partition: %v", err)
		}
		if err := ra.ask("node-b.example.net", 100*time.Millisecond); err == nil {
			t.Errorf("node-b answered DC A across a cut link (round %d, links %d/%d)", written, hub.NumLeafNodes(), leaf.NumLeafNodes())
		}
	}
	// DC B's records are in DC B's stream while the link is down.
	waitRecords(t, pki, leaf, written, map[string]int{"node-b.example.net": written})

	px.Heal()
	waitLinks(t, hub, leaf, 1)
	for range 5 {
		record()
	}
	brokertest.Eventually(t, 20*time.Second, func() error { return ra.ask("node-b.example.net", 200*time.Millisecond) })
	waitRecords(t, pki, hub, 2*written, map[string]int{"node-a.example.net": written, "node-b.example.net": written})
}

// waitRecords waits until b's audit stream holds total records and then
// checks each writer's are all there, once each, in order.
func waitRecords(t *testing.T, pki *brokertest.PKI, b *broker.Broker, total int, want map[string]int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := jetstream.New(mustConnect(t, pki, b.ClientURL(), "admin.ops"))
	if err != nil {
		t.Fatal(err)
	}
	stream, err := admin.Stream(ctx, broker.DefaultAuditStreamName)
	if err != nil {
		t.Fatal(err)
	}
	brokertest.Eventually(t, 20*time.Second, func() error {
		if n := len(streamLines(t, ctx, stream)); n < total {
			return fmt.Errorf("%d records in the audit stream, want %d", n, total)
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond) // a duplicate would arrive now
	lines := streamLines(t, ctx, stream)
	if len(lines) != total {
		t.Errorf("%d records in the audit stream, want %d (duplicates)", len(lines), total)
	}
	next := map[string]int{}
	for _, m := range lines {
		seq := m.seq
		var r struct {
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal(m.data, &r); err != nil {
			t.Fatal(err)
		}
		i := strings.LastIndexByte(r.RequestID, '-')
		name, n := r.RequestID[:i], r.RequestID[i+1:]
		if w := fmt.Sprintf("%04d", next[name]); n != w {
			t.Fatalf("seq %d: record %s of %s, want %s (lost, repeated or reordered)", seq, n, name, w)
		}
		next[name]++
	}
	for name, n := range want {
		if next[name] != n {
			t.Errorf("%s: %d records, want %d", name, next[name], n)
		}
	}
}

// TestLinkRefusals: links never start without link certificates or with
// verification off, and say why.
func TestLinkRefusals(t *testing.T) {
	pki := brokertest.NewPKI(t, "fleet")
	insecure := pki.ClientTLS(t, leafName)
	insecure.InsecureSkipVerify = true
	for _, tc := range []struct {
		name, says string
		edit       func(*broker.Config)
	}{
		{"no link certificates", "could otherwise connect as a broker", func(c *broker.Config) {
			c.LinkCertificates = nil
			c.LeafPort = -1
		}},
		{"unverified remote", "InsecureSkipVerify", func(c *broker.Config) {
			c.LeafRemotes = []broker.LeafRemote{{Name: "dca", URLs: []string{"hub:7422"}, TLS: insecure}}
		}},
		{"remote with a password", "not user or password", func(c *broker.Config) {
			c.LeafRemotes = []broker.LeafRemote{{Name: "dca", URLs: []string{"nats://u:p@hub:7422"}}}
		}},
		{"gateway without a name", "GatewayName", func(c *broker.Config) { c.GatewayPort = -1 }},
		{"own domain as a source", "not another data centre", func(c *broker.Config) { c.AuditStream.Sources = []string{"dcb"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := dcConfig(t, pki, leafName, "dcb")
			tc.edit(&cfg)
			_, err := broker.New(cfg)
			if !errors.Is(err, broker.ErrConfig) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("New: %v, want a configuration error saying %q", err, tc.says)
			}
		})
	}
}

// TestGatewayRefusesNodeCertificate: a broker presenting a certificate
// from the fleet CA that is not a link certificate never forms a gateway.
func TestGatewayRefusesNodeCertificate(t *testing.T) {
	pki := brokertest.NewPKI(t, "fleet")
	ports := freePorts(t, 2)
	gw := func(name, gwName string, port int, other string, otherPort int) broker.Config {
		cfg := brokertest.Config(t, pki, name)
		cfg.LinkCertificates = []string{linkRe, `^node-c\.example\.net$`} // the rogue trusts a
		cfg.GatewayName, cfg.GatewayPort = gwName, port
		cfg.GatewayRemotes = []broker.GatewayRemote{{Name: other, URLs: []string{fmt.Sprintf("nats://127.0.0.1:%d", otherPort)}}}
		return cfg
	}
	acfg := gw(hubName, "dca", ports[0], "dcc", ports[1])
	acfg.LinkCertificates = []string{linkRe}
	a := brokertest.Start(t, acfg)
	c := brokertest.Start(t, gw("node-c.example.net", "dcc", ports[1], "dca", ports[0]))
	time.Sleep(2 * time.Second) // gateways connect within a second when allowed
	if a.NumGateways() != 0 || c.NumGateways() != 0 {
		t.Errorf("gateways formed with a node certificate: a %d, rogue %d", a.NumGateways(), c.NumGateways())
	}
	gz, err := a.Server().Gatewayz(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(gz.InboundGateways) != 0 {
		t.Errorf("inbound gateways %v", gz.InboundGateways)
	}
}
