package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/aaa/login"
	"github.com/tuttifleet/tutti/aaa/signer"
	"github.com/tuttifleet/tutti/aaa/signer/signertest"
	"github.com/tuttifleet/tutti/client"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security/x509"
)

// aaaFleet is a fleet whose CA also issued tutti-aaa's privileged
// certificate, and a client configuration that signs through tutti-aaa.
type aaaFleet struct {
	*Fleet
	env  *signertest.Env
	conf string // client.conf signing through tutti-aaa
}

func startAAAFleet(t *testing.T) *aaaFleet {
	t.Helper()
	return startAAAFleetOn(t, startFleet(t, 2))
}

// startAAAFleetOn adds tutti-aaa to a running fleet; configure edits
// tutti-aaa's configuration further.
func startAAAFleetOn(t *testing.T, f *Fleet, configure ...func(*signer.Config)) *aaaFleet {
	t.Helper()
	ca, err := x509.LoadCADir(filepath.Join(f.Dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	// tutti-aaa issues tokens with the fleet's login key, which the
	// fleet's broker verifies (plugin.choria.network.client_signer_cert):
	// a client presenting its token may read its caller's replies.
	env := signertest.Start(t, signertest.Options{CA: ca, Users: []login.User{
		{Username: "bob", ACLs: []string{"rpcutil.*"}},
		{Username: "carol", ACLs: []string{"puppet.status"}},
	}, Configure: func(c *signer.Config) {
		c.BasicJWT.SigningCertificate = filepath.Join(f.Dir, "aaa", "jwt.pub")
		c.Userlist.SigningKey = filepath.Join(f.Dir, "aaa", "jwt.seed")
		for _, edit := range configure {
			edit(c)
		}
	}})
	// The nodes' policy: bob (as the signer asserts him) may ping, nothing
	// more, although his token allows all of rpcutil.
	policy := filepath.Join(f.Dir, "policies", "rpcutil.policy")
	b, err := os.ReadFile(policy)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(policy, append(b, "allow\tup=bob\tping\t*\t*\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, n := range f.Nodes {
		if err := n.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	// The user's transport certificate is the guest's (brokers want mutual
	// TLS); every request is signed by tutti-aaa.
	base, err := os.ReadFile(filepath.Join(f.Dir, "guest.conf"))
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(f.Dir, "sso.conf")
	err = os.WriteFile(conf, append(base, []byte(
		"plugin.login.aaasvc.login.url = "+env.URL+signer.LoginPath+"\n"+
			"plugin.choria.security.request_signer.url = "+env.URL+signer.SignPath+"\n"+
			"plugin.choria.security.request_signer.token_file = "+filepath.Join(f.Dir, "token")+"\n"+
			"plugin.choria.security.request_signer.force = true\n"+
			"plugin.tutti.request_signer.ca = "+env.CAFile+"\n")...), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	return &aaaFleet{Fleet: f, env: env, conf: conf}
}

func runCLIStdin(stdin string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Main(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func (a *aaaFleet) login(t *testing.T, user string) {
	t.Helper()
	code, out, stderr := runCLIStdin(signertest.Password+"\n", "login", "--config", a.conf, "--user", user, "--password-stdin")
	if code != ExitOK {
		t.Fatalf("login %s: exit %d: %s %s", user, code, out, stderr)
	}
}

// nodeAudit returns node1's audit records for caller.
func (a *aaaFleet) nodeAudit(t *testing.T, caller string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(a.Dir, "audit-node1.demo.example.net.log"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		if rec["caller"] == caller {
			out = append(out, rec)
		}
	}
	return out
}

// TestE2ECentralAAA: login → tutti-aaa signs → the nodes verify the
// privileged signature, run ActionPolicy and audit as the asserted caller.
func TestE2ECentralAAA(t *testing.T) {
	a := startAAAFleet(t)
	a.login(t, "bob")

	code, out, stderr := runCLI(t, "rpc", "rpcutil", "ping", "--config", a.conf, "--json")
	if code != ExitOK {
		t.Fatalf("ping as bob: exit %d: %s %s", code, out, stderr)
	}
	var res struct {
		Replies []rpcResult `json:"replies"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Replies) != 2 {
		t.Fatalf("want 2 replies: %s", out)
	}
	for _, r := range res.Replies {
		if r.StatusCode != protocol.OK || r.Verification != client.Verified {
			t.Fatalf("reply %+v", r)
		}
	}

	// The token allows rpcutil.*, so tutti-aaa signs; the nodes' policy
	// denies inventory to up=bob.
	code, out, _ = runCLI(t, "rpc", "rpcutil", "inventory", "--config", a.conf, "--json")
	if code != ExitFailed || !strings.Contains(out, protocol.NotAuthorizedMsg) {
		t.Fatalf("inventory as bob should be denied by the nodes: exit %d: %s", code, out)
	}

	recs := a.nodeAudit(t, "up=bob")
	var allowPing, denyInventory int
	for _, r := range recs {
		if r["signer"] != "aaa.privileged.mcollective" {
			t.Fatalf("audit record does not name the privileged signer: %v", r)
		}
		switch {
		case r["action"] == "ping" && r["decision"] == "allow":
			allowPing++
		case r["action"] == "inventory" && r["decision"] == "deny":
			denyInventory++
		}
	}
	if allowPing != 1 || denyInventory != 1 {
		t.Fatalf("node audit for up=bob: %v", recs)
	}
	if n := len(a.nodeAudit(t, "choria=guest.mcollective")); n != 0 {
		t.Fatalf("the transport certificate's identity must not be the caller: %d records", n)
	}

	// tutti-aaa audited both rpc signatures (and the discovery requests
	// before them).
	var signed int
	for _, r := range a.env.AuditRecords(t) {
		if r.CallerID == "up=bob" && r.Action == "allow" && strings.Contains(string(r.Request), `"agent":"rpcutil"`) {
			signed++
		}
	}
	if signed != 2 {
		t.Fatalf("signer audit: %d allowed records for up=bob, want 2: %+v", signed, a.env.AuditRecords(t))
	}
}

// TestE2ECentralAAARefusals: every way the remote signing path can fail
// is a clear error on the CLI, and nothing reaches the nodes.
func TestE2ECentralAAARefusals(t *testing.T) {
	a := startAAAFleet(t)
	tokenFile := filepath.Join(a.Dir, "token")

	// No login yet.
	code, _, stderr := runCLI(t, "rpc", "rpcutil", "ping", "--config", a.conf)
	if code == ExitOK || !strings.Contains(stderr, "token file") {
		t.Fatalf("no token: exit %d: %s", code, stderr)
	}

	// A token for another agent: carol may only run puppet.status.
	a.login(t, "carol")
	code, _, stderr = runCLI(t, "rpc", "rpcutil", "ping", "--config", a.conf)
	if code == ExitOK || !strings.Contains(stderr, "refused") {
		t.Fatalf("carol's rpcutil.ping should be refused by the signer: exit %d: %s", code, stderr)
	}
	if n := len(a.nodeAudit(t, "up=carol")); n != 0 {
		t.Fatalf("a refused request reached the nodes: %d audit records", n)
	}
	var denied bool
	for _, r := range a.env.AuditRecords(t) {
		denied = denied || (r.CallerID == "up=carol" && r.Action == "deny")
	}
	if !denied {
		t.Fatalf("signer audit has no deny for carol: %+v", a.env.AuditRecords(t))
	}

	// A tampered token: bob's token with carol's claims swapped in is
	// refused by the signer (the signature no longer matches).
	a.login(t, "bob")
	tok, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(strings.TrimSpace(string(tok)), ".")
	claims, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	forged := strings.Replace(string(claims), "up=bob", "up=eve", 1)
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(forged))
	if err := os.WriteFile(tokenFile, []byte(strings.Join(parts, ".")), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCLI(t, "rpc", "rpcutil", "ping", "--config", a.conf)
	if code == ExitOK || !strings.Contains(stderr, "refused") {
		t.Fatalf("tampered token: exit %d: %s", code, stderr)
	}
	if n := len(a.nodeAudit(t, "up=eve")); n != 0 {
		t.Fatalf("tampered token reached the nodes")
	}

	// An expired token is caught before anything is sent.
	exp := strings.Replace(string(claims), `"exp":`, `"exp":1,"x":`, 1)
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(exp))
	if err := os.WriteFile(tokenFile, []byte(strings.Join(parts, ".")), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCLI(t, "rpc", "rpcutil", "ping", "--config", a.conf)
	if code == ExitOK || !strings.Contains(stderr, "run tutti login") {
		t.Fatalf("expired token: exit %d: %s", code, stderr)
	}

	// A signer whose certificate does not chain to the configured CA is
	// not trusted, even with a valid token.
	a.login(t, "bob")
	other, err := x509.NewCA("another CA", x509.KeyECDSA, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	otherCA := filepath.Join(a.Dir, "other-ca.pem")
	if err := os.WriteFile(otherCA, other.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	conf, err := os.ReadFile(a.conf)
	if err != nil {
		t.Fatal(err)
	}
	wrong := filepath.Join(a.Dir, "wrong-ca.conf")
	if err := os.WriteFile(wrong, []byte(strings.Replace(string(conf), a.env.CAFile, otherCA, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCLI(t, "rpc", "rpcutil", "ping", "--config", wrong)
	if code == ExitOK || !strings.Contains(stderr, "certificate") {
		t.Fatalf("signer with an untrusted certificate: exit %d: %s", code, stderr)
	}
	before := len(a.nodeAudit(t, "up=bob"))
	if before != 0 {
		t.Fatalf("nothing signed should have reached the nodes, got %d records", before)
	}
	// and with the right CA the same token works
	if code, out, stderr := runCLI(t, "rpc", "rpcutil", "ping", "--config", a.conf); code != ExitOK {
		t.Fatalf("bob after refusals: exit %d: %s %s", code, out, stderr)
	}
}

// TestE2ESTOMPCentralAAA: central signing works the same over ActiveMQ.
func TestE2ESTOMPCentralAAA(t *testing.T) {
	b := amq.Broker(t)
	conf, _ := startSTOMPFleetPolicy(t, b, 2, "allow\tup=bob\tping\t*\t*\n")
	dir := filepath.Dir(conf)
	env := signertest.Start(t, signertest.Options{CA: b.PKI.CA, Users: []login.User{{Username: "bob", ACLs: []string{"rpcutil.*"}}}})
	base, err := os.ReadFile(filepath.Join(dir, "guest.conf"))
	if err != nil {
		t.Fatal(err)
	}
	a := &aaaFleet{Fleet: &Fleet{Dir: dir}, env: env, conf: filepath.Join(dir, "sso.conf")}
	err = os.WriteFile(a.conf, append(base, []byte(
		"plugin.login.aaasvc.login.url = "+env.URL+signer.LoginPath+"\n"+
			"plugin.choria.security.request_signer.url = "+env.URL+signer.SignPath+"\n"+
			"plugin.choria.security.request_signer.token_file = "+filepath.Join(dir, "token")+"\n"+
			"plugin.choria.security.request_signer.force = true\n"+
			"plugin.tutti.request_signer.ca = "+env.CAFile+"\n")...), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	pingAll(t, conf, 2, 20*time.Second)
	a.login(t, "bob")
	if code, out, stderr := runCLI(t, "rpc", "rpcutil", "ping", "--config", a.conf, "--json"); code != ExitOK || strings.Count(out, `"verified"`) != 2 {
		t.Fatalf("ping as bob over ActiveMQ: exit %d: %s %s", code, out, stderr)
	}
	if code, out, _ := runCLI(t, "rpc", "rpcutil", "inventory", "--config", a.conf, "--json"); code != ExitFailed || !strings.Contains(out, protocol.NotAuthorizedMsg) {
		t.Fatalf("inventory as bob over ActiveMQ should be denied by the nodes: exit %d: %s", code, out)
	}
	b1, err := os.ReadFile(filepath.Join(dir, "audit-node1.stomp.example.net.log"))
	if err != nil {
		t.Fatal(err)
	}
	var allow, deny int
	for _, line := range strings.Split(strings.TrimSpace(string(b1)), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if rec["caller"] != "up=bob" || rec["signer"] != "aaa.privileged.mcollective" {
			continue
		}
		switch {
		case rec["action"] == "ping" && rec["decision"] == "allow":
			allow++
		case rec["action"] == "inventory" && rec["decision"] == "deny":
			deny++
		}
	}
	if allow != 1 || deny != 1 {
		t.Fatalf("node audit over ActiveMQ: allow=%d deny=%d\n%s", allow, deny, b1)
	}
}
