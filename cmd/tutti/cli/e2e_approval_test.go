package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/aaa/login"
	"github.com/tuttifleet/tutti/aaa/signer"
	"github.com/tuttifleet/tutti/aaa/signer/signertest"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security/remote"
	"github.com/tuttifleet/tutti/security/x509"
)

// approvalFleet is a fleet behind a tutti-aaa whose approval policy
// holds rpcutil#ping for a second person; bob asks, alice approves. Both
// may approve rpcutil (so a refusal of bob's own is the self rule).
type approvalFleet struct {
	*Fleet
	env   *signertest.Env
	confs map[string]string
	svc   *signer.Service
	stop  func()
}

func startApprovalFleet(t *testing.T, expiry time.Duration) *approvalFleet {
	t.Helper()
	f := startFleet(t, 2)
	ca, err := x509.LoadCADir(filepath.Join(f.Dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	env := signertest.Prepare(t, signertest.Options{CA: ca, Users: []login.User{
		{Username: "bob", ACLs: []string{"rpcutil.*"}, Approve: []string{"rpcutil.*"}},
		{Username: "alice", ACLs: []string{"rpcutil.*"}, Approve: []string{"rpcutil.ping"}},
		{Username: "carol", ACLs: []string{"rpcutil.*"}, Approve: []string{"puppet.*"}},
	}, Configure: func(c *signer.Config) {
		c.BasicJWT.SigningCertificate = filepath.Join(f.Dir, "aaa", "jwt.pub")
		c.Userlist.SigningKey = filepath.Join(f.Dir, "aaa", "jwt.seed")
		c.Approval = signer.ApprovalConfig{StateDir: filepath.Join(t.TempDir(), "approvals"),
			Expiry: signer.Duration(expiry), Rules: []signer.ApprovalRule{{Actions: []string{"rpcutil.ping"}}}}
	}})
	a := &approvalFleet{Fleet: f, env: env, confs: map[string]string{}}
	a.start(t)
	u, err := url.Parse(a.env.URL)
	if err != nil {
		t.Fatal(err)
	}
	// a restart listens where the clients look
	if env.Config.Port, err = strconv.Atoi(u.Port()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.stop() })

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
	base, err := os.ReadFile(filepath.Join(f.Dir, "guest.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"bob", "alice", "carol"} {
		conf := filepath.Join(f.Dir, user+".conf")
		err = os.WriteFile(conf, append(append([]byte{}, base...), []byte(
			"plugin.login.aaasvc.login.url = "+env.URL+signer.LoginPath+"\n"+
				"plugin.choria.security.request_signer.url = "+env.URL+signer.SignPath+"\n"+
				"plugin.choria.security.request_signer.token_file = "+filepath.Join(f.Dir, user+".token")+"\n"+
				"plugin.choria.security.request_signer.force = true\n"+
				"plugin.tutti.request_signer.ca = "+env.CAFile+"\n")...), 0o600)
		if err != nil {
			t.Fatal(err)
		}
		a.confs[user] = conf
		code, out, stderr := runCLIStdin(signertest.Password+"\n", "login", "--config", conf, "--user", user, "--password-stdin")
		if code != ExitOK {
			t.Fatalf("login %s: exit %d: %s %s", user, code, out, stderr)
		}
	}
	return a
}

// start runs tutti-aaa in this process (again after stop: a restart).
func (a *approvalFleet) start(t *testing.T) {
	t.Helper()
	l := logrus.New()
	l.SetOutput(io.Discard)
	svc, err := signer.New(a.env.Config, signer.Options{Log: logrus.NewEntry(l)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	select {
	case <-svc.Ready():
	case err := <-done:
		t.Fatalf("tutti-aaa did not start: %v", err)
	}
	a.svc, a.env.URL = svc, svc.URL()
	stopped := false
	a.stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("tutti-aaa: %v", err)
			}
		}
	}
}

func (a *approvalFleet) cli(t *testing.T, user, stdin string, args ...string) (int, string, string) {
	t.Helper()
	return runCLIStdin(stdin, append(args, "--config", a.confs[user])...)
}

// pending lists the approvals user sees.
func (a *approvalFleet) pending(t *testing.T, user string) []remote.Approval {
	t.Helper()
	code, out, stderr := a.cli(t, user, "", "approvals", "--json")
	if code != ExitOK {
		t.Fatalf("approvals as %s: exit %d: %s", user, code, stderr)
	}
	var list []remote.Approval
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("approvals --json: %v: %s", err, out)
	}
	return list
}

// waitPending waits until alice sees one pending approval and returns it.
func (a *approvalFleet) waitPending(t *testing.T) remote.Approval {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if list := a.pending(t, "alice"); len(list) == 1 {
			return list[0]
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("no pending approval appeared")
	return remote.Approval{}
}

var approvalIDRe = regexp.MustCompile(`approval id ([0-9a-f]{16})`)

// noWait sends bob's ping with --no-wait and returns the approval id.
func (a *approvalFleet) noWait(t *testing.T) string {
	t.Helper()
	code, out, stderr := a.cli(t, "bob", "", "rpc", "rpcutil", "ping", "--no-wait")
	m := approvalIDRe.FindStringSubmatch(stderr)
	if code != ExitPending || m == nil {
		t.Fatalf("rpc --no-wait: exit %d, want %d with the approval id: %s %s", code, ExitPending, out, stderr)
	}
	return m[1]
}

// signerAudit returns tutti-aaa's records for approval id.
func (a *approvalFleet) signerAudit(t *testing.T, id string) []signer.AuditRecord {
	t.Helper()
	var out []signer.AuditRecord
	for _, r := range a.env.AuditRecords(t) {
		if r.ApprovalID == id {
			out = append(out, r)
		}
	}
	return out
}

func auditActions(recs []signer.AuditRecord) string {
	var s []string
	for _, r := range recs {
		s = append(s, r.Action)
	}
	return strings.Join(s, ",")
}

type rpcReplies struct {
	Replies []rpcResult `json:"replies"`
}

// TestE2EApprovalApproved: bob's ping is held, bob cannot approve it
// himself, carol may not (her entitlement is puppet), alice approves it
// after seeing it; bob's waiting tutti sends it and both nodes run it.
// The nodes' records name bob and alice; tutti-aaa's hold the history.
func TestE2EApprovalApproved(t *testing.T) {
	a := startApprovalFleet(t, time.Hour)
	type result struct {
		code        int
		out, stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, out, stderr := a.cli(t, "bob", "", "rpc", "rpcutil", "ping", "--json", "--approval-timeout", "60s")
		done <- result{code, out, stderr}
	}()
	p := a.waitPending(t)
	if p.Requester != "up=bob" || p.Agent != "rpcutil" || p.Action != "ping" || p.State != remote.StatePending || len(p.Targets) != 2 {
		t.Fatalf("pending approval: %+v", p)
	}
	if mine := a.pending(t, "bob"); len(mine) != 1 || mine[0].ID != p.ID {
		t.Fatalf("bob should see his own pending request: %+v", mine)
	}
	if others := a.pending(t, "carol"); len(others) != 0 {
		t.Fatalf("carol may not approve rpcutil and should see nothing: %+v", others)
	}

	code, _, stderr := a.cli(t, "bob", "", "approve", p.ID, "--yes")
	if code != ExitFailed || !strings.Contains(stderr, "cannot approve or deny their own request") {
		t.Fatalf("self-approval: exit %d: %s", code, stderr)
	}
	code, _, stderr = a.cli(t, "carol", "", "approve", p.ID, "--yes")
	if code != ExitFailed || !strings.Contains(stderr, "may not approve rpcutil#ping") {
		t.Fatalf("approval without the entitlement: exit %d: %s", code, stderr)
	}
	// alice is shown the request and declines at the prompt: still pending
	code, out, _ := a.cli(t, "alice", "n\n", "approve", p.ID)
	for _, want := range []string{"Requester:  up=bob", "rpcutil#ping", "Inputs:", "Filter:", "Targets:", "Age:", "[y/N]"} {
		if !strings.Contains(out, want) {
			t.Fatalf("approve should show %q: %s", want, out)
		}
	}
	if code != ExitFailed {
		t.Fatalf("declined at the prompt: exit %d", code)
	}
	code, out, stderr = a.cli(t, "alice", "y\n", "approve", p.ID)
	if code != ExitOK || !strings.Contains(out, "is approved by up=alice") {
		t.Fatalf("approve as alice: exit %d: %s %s", code, out, stderr)
	}

	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("bob's rpc did not finish after the approval")
	}
	if r.code != ExitOK || !strings.Contains(r.stderr, "approval id "+p.ID) || !strings.Contains(r.stderr, "Waiting up to 1m0s") {
		t.Fatalf("bob's rpc: exit %d: %s %s", r.code, r.out, r.stderr)
	}
	var res rpcReplies
	if err := json.Unmarshal([]byte(r.out), &res); err != nil || len(res.Replies) != 2 {
		t.Fatalf("want 2 replies: %v: %s", err, r.out)
	}
	for _, rep := range res.Replies {
		if rep.StatusCode != protocol.OK {
			t.Fatalf("reply %+v", rep)
		}
	}
	// Once only: the approval is spent.
	code, _, stderr = a.cli(t, "bob", "", "rpc", "rpcutil", "ping", "--approval", p.ID)
	if code != ExitFailed || !strings.Contains(stderr, "replayed") {
		t.Fatalf("second use of an approval: exit %d: %s", code, stderr)
	}

	recs := a.signerAudit(t, p.ID)
	if got := auditActions(recs); !strings.HasPrefix(got, "pending,approved,allow") {
		t.Fatalf("signer audit of approval %s: %s: %+v", p.ID, got, recs)
	}
	allow := recs[2]
	if allow.CallerID != "up=bob" || allow.Approver != "up=alice" || recs[1].Approver != "up=alice" {
		t.Fatalf("signer audit must name the requester and the approver: %+v", recs)
	}
	for _, rec := range a.nodeRecords(t, "up=bob") {
		if rec["request_id"] == allow.RequestID && rec["decision"] == "allow" {
			ap, _ := rec["approval"].(map[string]any)
			if ap["approver"] != "up=alice" || ap["id"] != p.ID || ap["requester"] != "up=bob" {
				t.Fatalf("the node's record must name the approver: %v", rec)
			}
			// and the trace of the request shows who asked and who approved
			code, out, stderr := a.cli(t, "alice", "", "audit", "show", allow.RequestID,
				"--file", filepath.Join(a.Dir, "audit-node1.demo.example.net.log"))
			if code != ExitOK || !strings.Contains(out, "caller:  up=bob") || !strings.Contains(out, "approver: up=alice (approval "+p.ID+")") {
				t.Fatalf("audit show of an approved request: exit %d:\n%s%s", code, out, stderr)
			}
			return
		}
	}
	t.Fatalf("no node record for request %s", allow.RequestID)
}

// nodeRecords returns node1's audit records for caller.
func (a *approvalFleet) nodeRecords(t *testing.T, caller string) []map[string]any {
	t.Helper()
	return (&aaaFleet{Fleet: a.Fleet}).nodeAudit(t, caller)
}

// TestE2EApprovalDenied: bob exits at once with the id; alice denies it
// with a reason; bob's pickup is refused with it and nothing runs.
func TestE2EApprovalDenied(t *testing.T) {
	a := startApprovalFleet(t, time.Hour)
	id := a.noWait(t)
	code, _, stderr := a.cli(t, "alice", "", "deny", id)
	if code != ExitUsage {
		t.Fatalf("deny without --reason: exit %d: %s", code, stderr)
	}
	code, out, stderr := a.cli(t, "alice", "", "deny", id, "--reason", "change freeze")
	if code != ExitOK || !strings.Contains(out, "is denied by up=alice") {
		t.Fatalf("deny: exit %d: %s %s", code, out, stderr)
	}
	code, _, stderr = a.cli(t, "bob", "", "rpc", "rpcutil", "ping", "--approval", id)
	if code != ExitFailed || !strings.Contains(stderr, "change freeze") || !strings.Contains(stderr, remote.CodeApprovalDenied) {
		t.Fatalf("pickup of a denied request: exit %d: %s", code, stderr)
	}
	if got := auditActions(a.signerAudit(t, id)); got != "pending,denied,deny" {
		t.Fatalf("signer audit: %s", got)
	}
	for _, rec := range a.nodeRecords(t, "up=bob") {
		if rec["action"] == "ping" {
			t.Fatalf("a denied request reached a node: %v", rec)
		}
	}
}

// TestE2EApprovalExpired: a request nobody decides expires; it can be
// neither approved nor used afterwards.
func TestE2EApprovalExpired(t *testing.T) {
	a := startApprovalFleet(t, 2*time.Second)
	id := a.noWait(t)
	time.Sleep(2500 * time.Millisecond)
	code, _, stderr := a.cli(t, "alice", "", "approve", id, "--yes")
	if code != ExitFailed || !strings.Contains(stderr, "expired") {
		t.Fatalf("approving an expired request: exit %d: %s", code, stderr)
	}
	code, _, stderr = a.cli(t, "bob", "", "rpc", "rpcutil", "ping", "--approval", id)
	if code != ExitFailed || !strings.Contains(stderr, remote.CodeApprovalExpired) {
		t.Fatalf("pickup of an expired request: exit %d: %s", code, stderr)
	}
	if got := auditActions(a.signerAudit(t, id)); !strings.HasPrefix(got, "pending,expired") {
		t.Fatalf("signer audit: %s", got)
	}
}

// TestE2EApprovalRestart: tutti-aaa restarts while one request is held
// and bob waits for another; neither is lost: the approved one left
// behind is picked up with --approval, the waiting one completes.
func TestE2EApprovalRestart(t *testing.T) {
	a := startApprovalFleet(t, time.Hour)
	left := a.noWait(t)
	type result struct {
		code        int
		out, stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, out, stderr := a.cli(t, "bob", "", "rpc", "rpcutil", "ping", "--approval-timeout", "60s")
		done <- result{code, out, stderr}
	}()
	var waiting string
	deadline := time.Now().Add(15 * time.Second)
	for waiting == "" && time.Now().Before(deadline) {
		for _, p := range a.pending(t, "alice") {
			if p.ID != left {
				waiting = p.ID
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if waiting == "" {
		t.Fatal("the waiting request was not held")
	}

	a.stop()
	a.start(t)

	if n := len(a.pending(t, "alice")); n != 2 {
		t.Fatalf("after the restart alice sees %d pending approvals, want 2", n)
	}
	for _, id := range []string{left, waiting} {
		if code, out, stderr := a.cli(t, "alice", "", "approve", id, "--yes"); code != ExitOK {
			t.Fatalf("approve %s: exit %d: %s %s", id, code, out, stderr)
		}
	}
	select {
	case r := <-done:
		if r.code != ExitOK {
			t.Fatalf("bob's waiting rpc across the restart: exit %d: %s %s", r.code, r.out, r.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("bob's waiting rpc did not finish")
	}
	if code, out, stderr := a.cli(t, "bob", "", "rpc", "rpcutil", "ping", "--approval", left); code != ExitOK {
		t.Fatalf("pickup after the restart: exit %d: %s %s", code, out, stderr)
	}
}
