package emulate

import (
	"context"
	stdx509 "crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/client"
	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/connector/dial"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server/broker"
	"github.com/tuttifleet/tutti/server/broker/brokertest"
)

// testEnv is a PKI directory, a real TLS broker trusting its CA, a
// server.conf pointing at it and a connected client.
type testEnv struct {
	dir, pki string
	conf     *config.Server
	file     *config.File
	broker   *broker.Broker
	client   *client.Client
}

func newTestEnv(t *testing.T, extra string, tune ...func(*broker.Config)) *testEnv {
	t.Helper()
	dir := t.TempDir()
	pki := filepath.Join(dir, "pki")
	ca, err := x509.InitDir(pki, x509.KeyECDSA)
	if err != nil {
		t.Fatal(err)
	}
	pool := stdx509.NewCertPool()
	pool.AddCert(ca.Cert)
	bp := &brokertest.PKI{CA: ca, Pool: pool}
	bc := brokertest.Config(t, bp, "broker.test")
	// SharedConn carries every node on the first node's certificate,
	// which the broker must let subscribe to every node's subject.
	bc.Authorization.SharedNodes = []string{`^node-0*1$`}
	for _, f := range tune {
		f(&bc)
	}
	b := brokertest.Start(t, bc)
	policies := filepath.Join(dir, "policies")
	if err := os.MkdirAll(policies, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(policies, "rpcutil.policy"),
		[]byte("policy default deny\nallow\tchoria=admin.mcollective\t*\t*\t*\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "server.conf")
	body := "identity = ignored\ncollectives = mcollective\nlogfile = discard\n" +
		"plugin.security.provider = file\nplugin.security.file.ca = " + filepath.Join(pki, "ca.pem") + "\n" +
		"plugin.choria.middleware_hosts = " + b.ClientURL() + "\n" +
		"rpcauthorization = 1\nrpcauthprovider = action_policy\nplugin.tutti.policy_dir = " + policies + "\n" + extra
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, file, err := config.LoadServer(conf)
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{dir: dir, pki: pki, conf: cfg, file: file, broker: b, client: newTestClient(t, ca, b.ClientURL(), "admin.mcollective")}
}

// newTestClient connects a client as user, requiring signed replies.
func newTestClient(t *testing.T, ca *x509.CA, url, user string) *client.Client {
	t.Helper()
	is, err := ca.Issue(user, x509.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return clientFor(t, ca, url, is)
}

// clientFor connects a client with the certificate is.
func clientFor(t *testing.T, ca *x509.CA, url string, is *x509.Issued) *client.Client {
	t.Helper()
	user := is.Name
	p, err := x509.NewFromPEM(is.CertPEM, is.KeyPEM, ca.CertPEM, x509.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	common := &config.Common{Identity: user}
	common.NATS.Hosts = []string{url}
	conn, err := dial.Open(ctx, dial.ConfigFrom(common), p, brokertest.Logger("client"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	cl, err := client.New(client.Options{Connector: conn, Signer: &client.LocalSigner{Signer: p, Caller: "choria=" + user},
		Verifier: p, Identity: user, Log: brokertest.Logger("client")})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func (e *testEnv) start(t *testing.T, o Options) *Fleet {
	t.Helper()
	o.Config, o.File, o.PKIDir, o.Log = e.conf, e.file, e.pki, brokertest.Logger("emulate")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f, err := Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Shutdown(context.Background()) })
	return f
}

// ping sends a discovery ping with filter and returns who answered;
// every reply must carry a verified signature.
func ping(t *testing.T, cl *client.Client, f protocol.Filter, expect int) []string {
	t.Helper()
	var senders []string
	sum, err := cl.Do(context.Background(), client.Request{Discovery: true, Filter: f, Expect: expect,
		Timeout: 10 * time.Second, IdleGap: 300 * time.Millisecond}, func(r client.Result) {
		if r.State != client.Verified {
			t.Errorf("reply from %s: %s %v", r.Sender, r.State, r.Err)
		}
		senders = append(senders, r.Sender)
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Duplicates > 0 {
		t.Errorf("%d duplicate replies", sum.Duplicates)
	}
	slices.Sort(senders)
	return senders
}

func names(prefix string, idx ...int) []string {
	var out []string
	for _, i := range idx {
		out = append(out, fmt.Sprintf("%s-%05d", prefix, i))
	}
	return out
}

func TestE2EFleetRepliesWithOwnIdentities(t *testing.T) {
	e := newTestEnv(t, "")
	const n = 20
	f := e.start(t, Options{Count: n, Audit: AuditDiscard})
	r := f.Report()
	if r.Count != n || r.First != "emu-00001" || r.Last != "emu-00020" || r.CertsIssued != n || r.CertsCached != 0 {
		t.Fatalf("report %+v", r)
	}
	if r.RSSAfter <= 0 || r.StartSeconds <= 0 || !strings.HasPrefix(r.Audit, "discard") {
		t.Fatalf("report %+v", r)
	}
	all := make([]int, n)
	for i := range all {
		all[i] = i + 1
	}
	// Every reply is verified against the certificate of the node it
	// names (the client requires signed replies), so 20 distinct
	// verified senders are 20 identities with 20 certificates.
	if got := ping(t, e.client, protocol.Filter{}, n); !slices.Equal(got, names("emu", all...)) {
		t.Fatalf("ping: %v", got)
	}
	t.Run("certificates are distinct", func(t *testing.T) {
		seen := map[string]string{}
		for _, name := range names("emu", all...) {
			matches, _ := filepath.Glob(filepath.Join(e.pki, "emulate", "*", name+".pem"))
			if len(matches) != 1 {
				t.Fatalf("%s: cached certificates %v", name, matches)
			}
			b, err := os.ReadFile(matches[0])
			if err != nil {
				t.Fatal(err)
			}
			certs, err := x509.ParseCertificatesPEM(b)
			if err != nil {
				t.Fatal(err)
			}
			if certs[0].Subject.CommonName != name {
				t.Errorf("%s has a certificate for %q", name, certs[0].Subject.CommonName)
			}
			key := string(certs[0].RawSubjectPublicKeyInfo)
			if other, dup := seen[key]; dup {
				t.Errorf("%s and %s share a key", name, other)
			}
			seen[key] = name
		}
	})
	t.Run("fact filter", func(t *testing.T) {
		f := protocol.Filter{Fact: []protocol.FactFilter{{Fact: "group", Operator: "==", Value: "3"}}}
		if got := ping(t, e.client, f, 2); !slices.Equal(got, names("emu", 3, 13)) {
			t.Fatalf("group=3: %v", got)
		}
		f = protocol.Filter{Fact: []protocol.FactFilter{{Fact: "index", Operator: ">", Value: "17"}}}
		if got := ping(t, e.client, f, 3); !slices.Equal(got, names("emu", 18, 19, 20)) {
			t.Fatalf("index>17: %v", got)
		}
	})
	t.Run("class filter", func(t *testing.T) {
		f := protocol.Filter{CFClass: []string{"emulate::group7"}}
		if got := ping(t, e.client, f, 2); !slices.Equal(got, names("emu", 7, 17)) {
			t.Fatalf("class emulate::group7: %v", got)
		}
	})
	t.Run("identity filter", func(t *testing.T) {
		f := protocol.Filter{Identity: []string{"emu-00011"}}
		if got := ping(t, e.client, f, 1); !slices.Equal(got, names("emu", 11)) {
			t.Fatalf("identity: %v", got)
		}
	})
	t.Run("rpc through authorization", func(t *testing.T) {
		var ok []string
		sum, err := e.client.Do(context.Background(), client.Request{Agent: "rpcutil", Action: "ping",
			Filter: protocol.NewFilter("rpcutil"), Expect: n, Timeout: 10 * time.Second}, func(r client.Result) {
			if r.State == client.Verified && r.RPC != nil && r.RPC.StatusCode == protocol.OK {
				ok = append(ok, r.Sender)
			} else {
				t.Errorf("%s: %s %v %+v", r.Sender, r.State, r.Err, r.RPC)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(ok) != n || sum.Failed != 0 {
			t.Fatalf("rpc: %d OK of %d, %d failed", len(ok), n, sum.Failed)
		}
		// 6 requests reached all 20 nodes; 20+2+3+2+1+20 of them
		// passed the filter and were answered.
		if total, replies := f.Stats(); total != 6*n || replies != 48 {
			t.Fatalf("node stats: %d requests, %d replies; want %d and 48", total, replies, 6*n)
		}
	})
}

func TestE2EDeniedCallerAndSharedAuditFile(t *testing.T) {
	e := newTestEnv(t, "")
	auditPath := filepath.Join(e.dir, "audit.log")
	const n = 4
	f := e.start(t, Options{Count: n, Prefix: "node", SharedConn: true, Audit: auditPath, KeyType: x509.KeyEd25519})
	if r := f.Report(); !r.SharedConn || r.KeyType != "ed25519" || !strings.Contains(r.Audit, auditPath) {
		t.Fatalf("report %+v", r)
	}
	// The policy allows admin only: another user's rpc is denied on
	// every node, and every decision is audited in the shared file.
	ca, err := x509.LoadCADir(e.pki)
	if err != nil {
		t.Fatal(err)
	}
	guest := newTestClient(t, ca, e.conf.NATS.Hosts[0], "guest.mcollective")
	denied := 0
	_, err = guest.Do(context.Background(), client.Request{Agent: "rpcutil", Action: "ping", Filter: protocol.NewFilter("rpcutil"),
		Expect: n, Timeout: 10 * time.Second}, func(r client.Result) {
		if r.State == client.Verified && r.RPC != nil && r.RPC.StatusCode == protocol.Aborted {
			denied++
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if denied != n {
		t.Fatalf("%d of %d nodes denied the guest", denied, n)
	}
	b, err := os.ReadFile(auditPath)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		if want := fmt.Sprintf(`"identity":"node-%05d"`, i); !strings.Contains(string(b), want) {
			t.Errorf("audit log has no record from node-%05d:\n%s", i, b)
		}
	}
	if c := strings.Count(string(b), `"decision":"deny"`); c != n {
		t.Errorf("%d deny records, want %d", c, n)
	}
	// Directed requests reach the nodes on the shared connection.
	var got []string
	_, err = e.client.Do(context.Background(), client.Request{Agent: "rpcutil", Action: "ping", Filter: protocol.NewFilter("rpcutil"),
		Targets: []string{"node-00003", "node-00004"}, Expect: 2, Timeout: 10 * time.Second}, func(r client.Result) {
		if r.State == client.Verified && r.RPC != nil && r.RPC.StatusCode == protocol.OK {
			got = append(got, r.Sender)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Sort(got); !slices.Equal(got, []string{"node-00003", "node-00004"}) {
		t.Errorf("directed ping over the shared connection answered by %v", got)
	}
}

func TestCertificatesAreCached(t *testing.T) {
	dir := t.TempDir()
	if _, err := x509.InitDir(dir, x509.KeyECDSA); err != nil {
		t.Fatal(err)
	}
	s, err := newCertStore(dir, x509.KeyECDSA)
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.all([]string{"a-1", "a-2", "a-3"})
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := newCertStore(dir, x509.KeyECDSA)
	again, err := s2.all([]string{"a-1", "a-2", "a-3"})
	if err != nil {
		t.Fatal(err)
	}
	if s.issued.Load() != 3 || s2.cached.Load() != 3 || s2.issued.Load() != 0 {
		t.Fatalf("issued %d then %d, cached %d", s.issued.Load(), s2.issued.Load(), s2.cached.Load())
	}
	for i := range first {
		if string(first[i].cert) != string(again[i].cert) {
			t.Fatalf("pair %d changed", i)
		}
	}
	// Another key type or another CA is another cache.
	s3, _ := newCertStore(dir, x509.KeyEd25519)
	if _, err := s3.all([]string{"a-1"}); err != nil || s3.issued.Load() != 1 {
		t.Fatalf("ed25519: issued %d, %v", s3.issued.Load(), err)
	}
	// A corrupt cached certificate is issued again.
	if err := os.WriteFile(filepath.Join(s.dir, "a-2.pem"), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	s4, _ := newCertStore(dir, x509.KeyECDSA)
	if _, err := s4.all([]string{"a-2"}); err != nil || s4.issued.Load() != 1 {
		t.Fatalf("corrupt: issued %d, %v", s4.issued.Load(), err)
	}
}

// With Offset, a second emulator continues one fleet's numbering:
// identities and the index fact.
func TestE2EOffsetContinuesTheFleet(t *testing.T) {
	e := newTestEnv(t, "")
	f := e.start(t, Options{Count: 3, Offset: 7, Audit: AuditDiscard})
	if r := f.Report(); r.First != "emu-00008" || r.Last != "emu-00010" {
		t.Fatalf("report %+v", r)
	}
	if got := ping(t, e.client, protocol.Filter{}, 3); !slices.Equal(got, names("emu", 8, 9, 10)) {
		t.Fatalf("ping: %v", got)
	}
	if got := ping(t, e.client, protocol.Filter{Fact: []protocol.FactFilter{{Fact: "index", Operator: "==", Value: "9"}}}, 1); !slices.Equal(got, names("emu", 9)) {
		t.Fatalf("ping index=9: %v", got)
	}
}

func TestStartRefusesBadOptions(t *testing.T) {
	e := newTestEnv(t, "")
	cases := map[string]Options{
		"no count":   {Config: e.conf, PKIDir: e.pki, Log: brokertest.Logger("x")},
		"no pki":     {Config: e.conf, Count: 1, Log: brokertest.Logger("x")},
		"no config":  {Count: 1, PKIDir: e.pki, Log: brokertest.Logger("x")},
		"no CA here": {Config: e.conf, Count: 1, PKIDir: t.TempDir(), Log: brokertest.Logger("x")},
		// the stream goes beside the audit file, as on a real node
		"stream without audit file": {Config: e.conf, Count: 1, PKIDir: e.pki, Audit: AuditStream, Log: brokertest.Logger("x")},
		"negative offset":           {Config: e.conf, Count: 1, Offset: -1, PKIDir: e.pki, Log: brokertest.Logger("x")},
	}
	for name, o := range cases {
		t.Run(name, func(t *testing.T) {
			if f, err := Start(context.Background(), o); err == nil {
				f.Shutdown(context.Background())
				t.Fatal("started")
			}
		})
	}
}
