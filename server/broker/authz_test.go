package broker_test

import (
	"context"
	"crypto/ed25519"
	"crypto/md5" //nolint:gosec // reply subject namespace
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/tuttifleet/tutti/aaa/audit"
	"github.com/tuttifleet/tutti/aaa/login"
	"github.com/tuttifleet/tutti/aaa/signer"
	"github.com/tuttifleet/tutti/aaa/signer/signertest"
	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server/broker"
	"github.com/tuttifleet/tutti/server/broker/brokertest"
)

// authzEnv is a JetStream-enabled broker with default roles plus a
// limited dev collective, an admin certificate and a login token key.
type authzEnv struct {
	pki  *brokertest.PKI
	b    *broker.Broker
	hook *logtest.Hook
	key  ed25519.PrivateKey
}

func startAuthz(t *testing.T, edit func(*broker.Authorization)) *authzEnv {
	t.Helper()
	pki := brokertest.NewPKI(t, "ca")
	cfg := brokertest.Config(t, pki, "broker")
	cfg.JetStreamDir = t.TempDir()
	log, hook := logtest.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	cfg.Log = log.WithField("component", "broker")
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tv, err := login.NewTokenVerifier(pub, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Authorization = broker.Authorization{
		CollectiveClients: map[string][]string{"dev": {`\.dev\.mcollective$`}},
		Admins:            []string{`^admin\.ops$`},
		Tokens:            testTokens{tv},
	}
	if edit != nil {
		edit(&cfg.Authorization)
	}
	return &authzEnv{pki: pki, b: brokertest.Start(t, cfg), hook: hook, key: key}
}

// testTokens adapts login.TokenVerifier as tuttid's broker does.
type testTokens struct{ v *login.TokenVerifier }

func (tt testTokens) VerifyToken(tok string) (string, time.Time, error) {
	c, err := tt.v.Verify(tok)
	if err != nil {
		return "", time.Time{}, err
	}
	return c.CallerID, c.ExpiresAt.Time, nil
}

// raw connects with nats.go directly, presenting name's certificate.
func (e *authzEnv) raw(t *testing.T, name string, opts ...natsgo.Option) (*natsgo.Conn, error) {
	t.Helper()
	opts = append([]natsgo.Option{natsgo.Secure(e.pki.ClientTLS(t, name)), natsgo.PermissionErrOnSubscribe(true),
		natsgo.NoReconnect(), natsgo.ErrorHandler(func(*natsgo.Conn, *natsgo.Subscription, error) {})}, opts...)
	nc, err := natsgo.Connect(e.b.ClientURL(), opts...)
	if err == nil {
		t.Cleanup(nc.Close)
	}
	return nc, err
}

func (e *authzEnv) mustRaw(t *testing.T, name string, opts ...natsgo.Option) *natsgo.Conn {
	t.Helper()
	nc, err := e.raw(t, name, opts...)
	if err != nil {
		t.Fatalf("connect as %s: %v", name, err)
	}
	return nc
}

func replyHash(caller string) string {
	sum := md5.Sum([]byte(caller)) //nolint:gosec // namespace
	return hex.EncodeToString(sum[:])
}

// canSubscribe reports whether the broker accepted a subscription to subj.
func canSubscribe(t *testing.T, nc *natsgo.Conn, subj string) bool {
	t.Helper()
	sub, err := nc.SubscribeSync(subj)
	if err != nil {
		t.Fatalf("subscribe %s: %v", subj, err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	_, err = sub.NextMsg(20 * time.Millisecond)
	switch {
	case errors.Is(err, natsgo.ErrPermissionViolation):
		return false
	case errors.Is(err, natsgo.ErrTimeout):
		return true
	}
	t.Fatalf("next message on %s: %v", subj, err)
	return false
}

// canPublish reports whether a message published to subj reached an
// admin subscriber: the publisher sends it, then a marker it may send;
// the broker keeps one publisher's order, so once the marker arrived a
// delivered message would have too.
func canPublish(t *testing.T, e *authzEnv, nc *natsgo.Conn, subj, marker string) bool {
	t.Helper()
	admin := e.mustRaw(t, "admin.ops")
	spy, err := admin.SubscribeSync(">")
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish(subj, []byte("probe")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish(marker, []byte("marker")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	got := false
	for {
		m, err := spy.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("marker %s never arrived: %v", marker, err)
		}
		if m.Subject == subj && string(m.Data) == "probe" {
			got = true
		}
		if m.Subject == marker {
			return got
		}
	}
}

func TestClientCertificatePermissions(t *testing.T) {
	e := startAuthz(t, nil)
	nc := e.mustRaw(t, "alice.mcollective")
	own := "mcollective.reply." + replyHash("choria=alice.mcollective") + ".0123456789abcdef0123456789abcdef"
	cert := "mcollective.reply." + replyHash("cert=alice.mcollective") + ".1"
	for subj, want := range map[string]bool{
		own: true, cert: true,
		"mcollective.reply." + replyHash("choria=bob.mcollective") + ".>": false,
		"mcollective.reply.>":                  false,
		"*.reply.>":                            false,
		"mcollective.broadcast.agent.rpcutil":  false,
		"mcollective.broadcast.service.puppet": false,
		"mcollective.node.node1.example.net":   false,
		"mcollective.>":                        false,
		">":                                    false,
		"_INBOX.>":                             false,
		"$JS.API.>":                            false,
	} {
		if got := canSubscribe(t, nc, subj); got != want {
			t.Errorf("alice.mcollective subscribe %s: allowed %v, want %v", subj, got, want)
		}
	}
	marker := "mcollective.node.marker"
	for subj, want := range map[string]bool{
		"mcollective.broadcast.agent.rpcutil":      true,
		"mcollective.broadcast.service.puppet":     true,
		"mcollective.node.node1.example.net":       true,
		"mcollective.broadcast.agent.registration": false,
		"mcollective.reply.abc.1":                  false,
		"dev.broadcast.agent.rpcutil":              false, // not a dev certificate
		"$JS.API.STREAM.LIST":                      false,
	} {
		if got := canPublish(t, e, nc, subj, marker); got != want {
			t.Errorf("alice.mcollective publish %s: allowed %v, want %v", subj, got, want)
		}
	}
}

func TestDevClientStaysInDev(t *testing.T) {
	e := startAuthz(t, nil)
	nc := e.mustRaw(t, "bob.dev.mcollective")
	marker := "dev.node.marker"
	for subj, want := range map[string]bool{
		"dev.broadcast.agent.rpcutil":  true,
		"dev.node.web1":                true,
		"prod.broadcast.agent.rpcutil": true, // prod has no list: open to every client
		"prod.node.web1":               true,
	} {
		if got := canPublish(t, e, nc, subj, marker); got != want {
			t.Errorf("bob.dev.mcollective publish %s: allowed %v, want %v", subj, got, want)
		}
	}
	// With prod limited to ops certificates, the dev user is out of it.
	e = startAuthz(t, func(a *broker.Authorization) { a.CollectiveClients["prod"] = []string{`^ops\.mcollective$`} })
	nc = e.mustRaw(t, "bob.dev.mcollective")
	for subj, want := range map[string]bool{
		"prod.broadcast.agent.rpcutil":   false,
		"prod.broadcast.service.rpcutil": false,
		"prod.node.web1":                 false,
		"dev.broadcast.agent.rpcutil":    true,
	} {
		if got := canPublish(t, e, nc, subj, "dev.node.marker"); got != want {
			t.Errorf("bob.dev.mcollective publish %s: allowed %v, want %v", subj, got, want)
		}
	}
	ops := e.mustRaw(t, "ops.mcollective")
	if !canPublish(t, e, ops, "prod.broadcast.agent.rpcutil", "prod.node.marker") {
		t.Error("ops.mcollective may not publish into prod")
	}
}

func TestNodeCertificatePermissions(t *testing.T) {
	e := startAuthz(t, nil)
	nc := e.mustRaw(t, "node1.example.net")
	for subj, want := range map[string]bool{
		"mcollective.node.node1.example.net":         true,
		"dev.node.node1.example.net":                 true,
		"mcollective.broadcast.agent.rpcutil":        true,
		"mcollective.broadcast.service.puppet":       true,
		"mcollective.node.node2.example.net":         false,
		"mcollective.node.>":                         false,
		"mcollective.node.node1.example.net.>":       false,
		"mcollective.reply.>":                        false,
		x509.InboxPrefix("node1.example.net") + ".1": true,
		x509.InboxPrefix("node2.example.net") + ".1": false,
		">": false,
	} {
		if got := canSubscribe(t, nc, subj); got != want {
			t.Errorf("node1 subscribe %s: allowed %v, want %v", subj, got, want)
		}
	}
	marker := "mcollective.reply." + replyHash("choria=x.mcollective") + ".marker"
	for subj, want := range map[string]bool{
		"mcollective.reply." + replyHash("choria=alice.mcollective") + ".1": true,
		"mcollective.broadcast.agent.registration":                          true,
		"mcollective.broadcast.agent.rpcutil":                               false,
		"mcollective.broadcast.service.puppet":                              false,
		"mcollective.node.node2.example.net":                                false,
		"$JS.API.STREAM.LIST":                                               false,
		"tutti.audit.node.node1.example.net":                                true,
		"tutti.audit.node.node2.example.net":                                false,
		"tutti.aaa.audit.x":                                                 false,
	} {
		if got := canPublish(t, e, nc, subj, marker); got != want {
			t.Errorf("node1 publish %s: allowed %v, want %v", subj, got, want)
		}
	}
}

func TestSharedNodeConnection(t *testing.T) {
	e := startAuthz(t, func(a *broker.Authorization) { a.SharedNodes = []string{`^emu-0*1$`} })
	shared := e.mustRaw(t, "emu-00001")
	other := e.mustRaw(t, "emu-00002")
	if !canSubscribe(t, shared, "mcollective.node.emu-00002") {
		t.Error("the shared-connection certificate cannot subscribe to another emulated node")
	}
	if canSubscribe(t, other, "mcollective.node.emu-00003") {
		t.Error("an ordinary node certificate subscribed to another node's subject")
	}
	if canSubscribe(t, shared, "mcollective.reply.>") {
		t.Error("the shared-connection certificate reads replies")
	}
}

func TestPrivilegedCertificate(t *testing.T) {
	e := startAuthz(t, nil)
	name := "aaa.privileged.mcollective"
	nc := e.mustRaw(t, name)
	inbox := x509.InboxPrefix(name)
	for subj, want := range map[string]bool{
		"mcollective.reply." + replyHash("up=bob") + ".1": true,
		"prod.reply.>":   true,
		inbox + ".abc.*": true,
		x509.InboxPrefix("other.privileged.mcollective") + ".>": false,
		"_INBOX.>":                            false,
		"mcollective.broadcast.agent.rpcutil": false,
		"$JS.API.>":                           false,
	} {
		if got := canSubscribe(t, nc, subj); got != want {
			t.Errorf("%s subscribe %s: allowed %v, want %v", name, subj, got, want)
		}
	}
	if !canPublish(t, e, nc, "tutti.aaa.audit.london", "mcollective.node.marker") {
		t.Error("the privileged certificate cannot publish audit records")
	}
	client := e.mustRaw(t, "alice.mcollective")
	if canPublish(t, e, client, "tutti.aaa.audit.london", "mcollective.node.marker") {
		t.Error("a client certificate published an audit record")
	}
}

// TestJetStreamOnlyAdmin: only the admin certificate manages streams;
// the signer's auditor (privileged, its own inbox) publishes records
// with acknowledgements.
func TestJetStreamOnlyAdmin(t *testing.T) {
	e := startAuthz(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	admin, err := jetstream.New(e.mustRaw(t, "admin.ops"))
	if err != nil {
		t.Fatal(err)
	}
	stream := e.auditStream(t, ctx, admin)

	priv := "aaa.privileged.mcollective"
	aud, err := audit.NewJetStream(audit.JetStreamConfig{Servers: e.b.ClientURL(), Subject: "tutti.aaa.audit.test",
		TLS: e.pki.ClientTLS(t, priv), InboxPrefix: x509.InboxPrefix(priv), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer aud.Close()
	if err := aud.Audit(ctx, &signer.AuditRecord{Protocol: signer.AuditProtocol, CallerID: "up=bob", Action: "allow"}); err != nil {
		t.Fatalf("privileged auditor publish with ack: %v", err)
	}

	for _, name := range []string{"alice.mcollective", "node1.example.net", priv} {
		nc := e.mustRaw(t, name, natsgo.CustomInboxPrefix(x509.InboxPrefix(name)))
		for _, api := range []string{"$JS.API.STREAM.PURGE.TUTTI_AUDIT", "$JS.API.STREAM.DELETE.TUTTI_AUDIT", "$JS.API.STREAM.MSG.DELETE.TUTTI_AUDIT"} {
			if m, err := nc.Request(api, nil, 500*time.Millisecond); err == nil {
				t.Errorf("%s: %s answered %s", name, api, m.Data)
			}
		}
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		if err := js.DeleteStream(short, "TUTTI_AUDIT"); err == nil {
			t.Errorf("%s deleted the audit stream", name)
		}
		if _, err := js.CreateStream(short, jetstream.StreamConfig{Name: "X", Subjects: []string{"x.>"}}); err == nil {
			t.Errorf("%s created a stream", name)
		}
		cancel()
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatalf("the audit stream is gone: %v", err)
	}
	if info.State.Msgs != 1 {
		t.Errorf("audit stream holds %d records, want 1", info.State.Msgs)
	}
}

// TestSignerAuditsToTheBroker: tutti-aaa's jetstream auditor, wired as
// the service wires it (tls:// server, its privileged certificate, the
// inbox prefix of that certificate), gets its records acknowledged.
func TestSignerAuditsToTheBroker(t *testing.T) {
	e := startAuthz(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	admin, err := jetstream.New(e.mustRaw(t, "admin.ops"))
	if err != nil {
		t.Fatal(err)
	}
	stream := e.auditStream(t, ctx, admin)
	slog, shook := logtest.NewNullLogger()
	env := signertest.Start(t, signertest.Options{CA: e.pki.CA, Log: slog.WithField("component", "aaa"), Configure: func(c *signer.Config) {
		c.Auditors = []string{"logfile", "jetstream"}
		c.JetStreamAuditor.Servers = strings.Replace(e.b.ClientURL(), "nats://", "tls://", 1)
		c.JetStreamAuditor.Topic = "tutti.aaa.audit.test"
	}})
	tok, seed := env.Login(t, "bob")
	if _, code := env.Sign(t, tok, signertest.Request(t, "rpcutil", "ping", "up=bob", time.Now(), 60), seed); code != "" {
		t.Fatal(code)
	}
	brokertest.Eventually(t, 10*time.Second, func() error { // through the signer's spool
		info, err := stream.Info(ctx)
		if err != nil {
			return err
		}
		if info.State.Msgs != 1 {
			return fmt.Errorf("audit stream holds %d records, want the signer's 1", info.State.Msgs)
		}
		return nil
	})
	// The record is stored even when the acknowledgement cannot reach
	// the signer; the signer then logs an audit failure.
	for _, en := range shook.AllEntries() {
		if en.Level <= logrus.ErrorLevel {
			t.Errorf("signer: %s: %v", en.Message, en.Data[logrus.ErrorKey])
		}
	}
}

// auditStream waits for the audit stream the broker creates itself and
// returns it as the admin sees it.
func (e *authzEnv) auditStream(t *testing.T, ctx context.Context, admin jetstream.JetStream) jetstream.Stream {
	t.Helper()
	select {
	case <-e.b.AuditStreamReady():
	case <-ctx.Done():
		t.Fatal("the broker did not create the audit stream")
	}
	stream, err := admin.Stream(ctx, broker.DefaultAuditStreamName)
	if err != nil {
		t.Fatal(err)
	}
	return stream
}

// issue signs a login token for caller, expiring after validity.
func (e *authzEnv) issue(t *testing.T, key ed25519.PrivateKey, caller string, now time.Time) string {
	t.Helper()
	ts, err := login.NewTokenSigner(key, time.Hour, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ts.Issue(&login.User{Username: strings.TrimPrefix(caller, "up="), CallerID: caller}, pub)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestLoginTokenGrantsItsCallersReplies(t *testing.T) {
	e := startAuthz(t, nil)
	aliceReplies := "mcollective.reply." + replyHash("up=alice") + ".1"
	plain := e.mustRaw(t, "guest.mcollective")
	if canSubscribe(t, plain, aliceReplies) {
		t.Fatal("guest.mcollective reads up=alice's replies without a token")
	}
	withToken := e.mustRaw(t, "guest.mcollective", natsgo.Token(e.issue(t, e.key, "up=alice", time.Now())))
	if !canSubscribe(t, withToken, aliceReplies) {
		t.Error("a valid token for up=alice does not grant her replies")
	}
	if !canSubscribe(t, withToken, "mcollective.reply."+replyHash("choria=guest.mcollective")+".1") {
		t.Error("the token took away the certificate's own replies")
	}
	if canSubscribe(t, withToken, "mcollective.reply."+replyHash("up=bob")+".1") {
		t.Error("up=alice's token grants up=bob's replies")
	}

	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	for what, tok := range map[string]string{
		"forged":  e.issue(t, otherKey, "up=alice", time.Now()),
		"expired": e.issue(t, e.key, "up=alice", time.Now().Add(-2*time.Hour)),
		"garbage": "not.a.jwt",
	} {
		if _, err := e.raw(t, "guest.mcollective", natsgo.Token(tok)); !errors.Is(err, natsgo.ErrAuthorization) {
			t.Errorf("%s token: connect = %v, want an authorization violation", what, err)
		}
	}
	brokertest.Eventually(t, 5*time.Second, func() error {
		if n := e.b.Denials().Refused()["role_or_token"]; n != 3 {
			return fmt.Errorf("refused connections with a token: %d, want 3", n)
		}
		for _, en := range e.hook.AllEntries() {
			if en.Message == "broker connection refused" && en.Data["certificate"] == "guest.mcollective" &&
				strings.Contains(fmt.Sprint(en.Data[logrus.ErrorKey]), "token") {
				return nil
			}
		}
		return errors.New("no refusal log line naming the certificate and the token")
	})
}

func TestNodeCertificatesRefuseUnknown(t *testing.T) {
	e := startAuthz(t, func(a *broker.Authorization) { a.Nodes = []string{`\.example\.net$`} })
	e.mustRaw(t, "node1.example.net")
	e.mustRaw(t, "alice.mcollective")
	if _, err := e.raw(t, "mallory.evil.org"); !errors.Is(err, natsgo.ErrAuthorization) {
		t.Fatalf("unknown certificate: connect = %v, want an authorization violation", err)
	}
	// The connector gives up at once (retrying cannot help) and says why.
	start := time.Now()
	_, err := connect(t, e.b.ClientURL(), e.pki.ClientTLS(t, "mallory.evil.org"))
	if !errors.Is(err, natsgo.ErrAuthorization) || !strings.Contains(err.Error(), "the broker refused certificate mallory.evil.org") {
		t.Errorf("connector Connect = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("connector retried a refused certificate for %v", d)
	}
	brokertest.Eventually(t, 5*time.Second, func() error {
		for _, en := range e.hook.AllEntries() {
			if en.Message == "broker connection refused" && en.Data["certificate"] == "mallory.evil.org" && en.Level == logrus.WarnLevel {
				return nil
			}
		}
		return errors.New("no refusal logged for mallory.evil.org")
	})
}

// TestDeniedIsLoggedCountedAndNamedToTheClient: the product path. The
// connector's Flush names subject and certificate; the broker logs the
// certificate, role and subject and counts it.
func TestDeniedIsLoggedCountedAndNamedToTheClient(t *testing.T) {
	e := startAuthz(t, nil)
	c, err := connect(t, e.b.ClientURL(), e.pki.ClientTLS(t, "carol.dev.mcollective"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	theirs := connector.ReplyTo("prod", "choria=ops.mcollective", "0123456789abcdef0123456789abcdef")
	if _, err := c.Subscribe(connector.Destination{Kind: connector.Reply, ReplyTo: theirs}, func(connector.Message) {}); err != nil {
		t.Fatal(err)
	}
	err = c.Flush(ctx)
	want := "permission denied to subscribe to " + theirs + " as carol.dev.mcollective"
	if !errors.Is(err, connector.ErrDenied) || err == nil || err.Error() != want {
		t.Fatalf("Flush = %v, want %q", err, want)
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatalf("the refusal is reported once, then Flush = %v", err)
	}
	own := connector.Destination{Kind: connector.Reply, ReplyTo: connector.ReplyTo("dev", "choria=carol.dev.mcollective", "1")}
	if _, err := c.Subscribe(own, func(connector.Message) {}); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatalf("own replies: %v", err)
	}
	reg := connector.Destination{Kind: connector.Broadcast, Collective: "dev", Agent: "registration"}
	if err := c.Publish(ctx, reg, []byte("x")); err != nil {
		t.Fatal(err)
	}
	err = c.Flush(ctx)
	if want := "permission denied to publish to dev.broadcast.agent.registration as carol.dev.mcollective"; err == nil || err.Error() != want {
		t.Fatalf("Flush after a refused publish = %v, want %q", err, want)
	}

	brokertest.Eventually(t, 5*time.Second, func() error {
		d := e.b.Denials().Denied()
		if d[broker.DenialKey{Operation: "subscribe", Role: broker.RoleClient}] != 1 ||
			d[broker.DenialKey{Operation: "publish", Role: broker.RoleClient}] != 1 {
			return fmt.Errorf("denials %v", d)
		}
		for _, en := range e.hook.AllEntries() {
			if en.Message == "permission denied" && en.Level == logrus.WarnLevel && en.Data["certificate"] == "carol.dev.mcollective" &&
				en.Data["role"] == broker.RoleClient && en.Data["subject"] == theirs && en.Data["operation"] == "subscribe" {
				return nil
			}
		}
		return errors.New("no permission denied log line with certificate, role and subject")
	})
	for _, en := range e.hook.AllEntries() {
		if strings.Contains(en.Message, "Violation") {
			t.Errorf("nats-server's own violation line was logged too: %s", en.Message)
		}
	}
}

func TestAuthorizationRefusals(t *testing.T) {
	pki := brokertest.NewPKI(t, "ca")
	for name, a := range map[string]broker.Authorization{
		"bad regex":          {Admins: []string{"("}},
		"bad audit subject":  {AuditSubjects: []string{"a..b"}},
		"bad collective":     {CollectiveClients: map[string][]string{"a.b": {"x"}}},
		"bad collective re":  {CollectiveClients: map[string][]string{"dev": {"["}}},
		"bad node regex":     {Nodes: []string{"*"}},
		"bad privileged re":  {Privileged: []string{"(?"}},
		"bad shared node re": {SharedNodes: []string{"["}},
	} {
		cfg := brokertest.Config(t, pki, "broker")
		cfg.Authorization = a
		if _, err := broker.New(cfg); !errors.Is(err, broker.ErrConfig) {
			t.Errorf("%s: New = %v, want ErrConfig", name, err)
		}
	}
}
