package emulate

import (
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tuttifleet/tutti/client"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security"
	"github.com/tuttifleet/tutti/security/revocation"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server/broker"
	"github.com/tuttifleet/tutti/server/broker/brokertest"
)

// revokeBound is the issue's bound on the time from `tutti pki revoke`
// to refusal on every node.
const revokeBound = 5 * time.Second

// revokeFleetSize is the fleet of TestE2ERevocationInSeconds: 1,000
// nodes, TUTTI_REVOKE_NODES to change it, 100 with -short.
func revokeFleetSize(t *testing.T) int {
	if s := os.Getenv("TUTTI_REVOKE_NODES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("TUTTI_REVOKE_NODES=%q", s)
		}
		return n
	}
	if testing.Short() {
		return 100
	}
	return 1000
}

// A caller revoked with RevokeInDir + Publish (what `tutti pki revoke`
// does) is refused by every node of the fleet within revokeBound, each
// node answering "certificate revoked" to the caller's own reply
// subject; a fleet started after the revocation (nodes that were
// offline) refuses it from the start.
func TestE2ERevocationInSeconds(t *testing.T) {
	n := revokeFleetSize(t)
	e := newTestEnv(t, "", func(c *broker.Config) {
		c.JetStreamDir = t.TempDir()
		c.AuditStream.Off = true
		c.Authorization.Admins = []string{`^admin\.mcollective$`}
	})
	select {
	case <-e.broker.CRLBucketReady():
	case <-time.After(20 * time.Second):
		t.Fatal("CRL bucket not created")
	}
	ca, err := x509.LoadCADir(e.pki)
	if err != nil {
		t.Fatal(err)
	}
	mallory, err := ca.Issue("mallory.mcollective", x509.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := mallory.WriteFiles(e.pki); err != nil {
		t.Fatal(err)
	}
	url := e.conf.NATS.Hosts[0]
	mc := clientFor(t, ca, url, mallory)
	f := e.start(t, Options{Count: n, Prefix: "node", SharedConn: true, Audit: AuditDiscard})
	t0 := time.Now()
	if got := countReplies(t, mc, n, false); got != n {
		t.Fatalf("before revocation %d of %d nodes answered mallory", got, n)
	}
	t.Logf("a ping of %d nodes before revocation: %.2fs", n, time.Since(t0).Seconds())
	admin := adminConn(t, ca, url)

	start := time.Now()
	res, err := x509.RevokeInDir(e.pki, x509.Revocation{Target: "mallory.mcollective", Reason: 1}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := revocation.Publish(ctx, admin, res.PEM); err != nil {
		t.Fatal(err)
	}
	t.Logf("CRL signed and published %.3fs after RevokeInDir began", time.Since(start).Seconds())
	// every node's verifier, probed with a request mallory signed, until
	// each refuses it as revoked: what the node's pipeline calls first
	msg := []byte(`{"probe":"revocation"}`)
	sig, err := x509.SignWith(mallory.Key, msg)
	if err != nil {
		t.Fatal(err)
	}
	pending := slices.Clone(f.provs)
	for len(pending) > 0 && time.Since(start) < 2*revokeBound {
		keep := pending[:0]
		for _, p := range pending {
			if _, err := p.VerifyRequest(msg, sig, mallory.CertPEM, "choria=mallory.mcollective"); !errors.Is(err, security.ErrRevoked) {
				keep = append(keep, p)
			}
		}
		pending = keep
		time.Sleep(5 * time.Millisecond)
	}
	applied := time.Since(start)
	// then one ping: every node answers "certificate revoked"
	refused := countReplies(t, mc, n, true)
	answered := time.Since(start)
	t.Logf("revocation: all %d nodes refuse %.2fs after RevokeInDir began; a ping sent then was answered "+
		"\"certificate revoked\" by %d nodes at %.2fs", n-len(pending), applied.Seconds(), refused, answered.Seconds())
	if len(pending) > 0 || applied > revokeBound {
		t.Fatalf("%d of %d nodes still accept mallory after %v (bound %v)", len(pending), n, applied, revokeBound)
	}
	if refused != n {
		t.Fatalf("%d of %d nodes answered certificate revoked", refused, n)
	}
	f.Shutdown(context.Background())

	// nodes that were offline: a new fleet gets the CRL from the bucket
	// as it connects and refuses within the bound
	off := e.start(t, Options{Count: 3, Prefix: "late", SharedConn: false, Audit: AuditDiscard})
	_ = off
	brokertest.Eventually(t, revokeBound, func() error {
		if got := countReplies(t, mc, 3, true); got != 3 {
			return errRefused(got)
		}
		return nil
	})
}

type errRefused int

func (e errRefused) Error() string { return strconv.Itoa(int(e)) + " nodes refused" }

// countReplies pings as cl and counts the signed pongs, or with revoked
// the signed "certificate revoked" refusals.
func countReplies(t *testing.T, cl *client.Client, expect int, revoked bool) int {
	t.Helper()
	got := 0
	_, err := cl.Do(context.Background(), client.Request{Discovery: true, Filter: protocol.NewFilter("rpcutil"), Expect: expect,
		Timeout: 4 * time.Second, IdleGap: 2 * time.Second}, func(r client.Result) {
		switch {
		case r.State != client.Verified:
		case revoked && r.RPC != nil && r.RPC.StatusCode == protocol.Aborted &&
			strings.HasPrefix(r.RPC.StatusMsg, protocol.CertificateRevokedMsg):
			got++
		case !revoked && string(r.Body) == "pong":
			got++
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// adminConn is a NATS connection with an admin certificate (the role
// that may write the CRL bucket).
func adminConn(t *testing.T, ca *x509.CA, url string) *nats.Conn {
	t.Helper()
	is, err := ca.Issue("admin.mcollective", x509.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := x509.NewFromPEM(is.CertPEM, is.KeyPEM, ca.CertPEM, x509.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tlsc, err := p.ClientTLS("")
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url, nats.Secure(tlsc), nats.CustomInboxPrefix(x509.InboxPrefix(p.Name())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}
