package signer_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/aaa/login"
	"github.com/tuttifleet/tutti/aaa/signer"
	"github.com/tuttifleet/tutti/aaa/signer/signertest"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security/remote"
)

func approvalEnv(t *testing.T, rules ...signer.ApprovalRule) *signertest.Env {
	t.Helper()
	if rules == nil {
		rules = []signer.ApprovalRule{{Actions: []string{"rpcutil.ping"}}}
	}
	return signertest.Start(t, signertest.Options{Users: []login.User{
		{Username: "bob", ACLs: []string{"rpcutil.*"}},
		{Username: "alice", ACLs: []string{"rpcutil.*"}, Approve: []string{"rpcutil.*"}},
	}, Configure: func(c *signer.Config) {
		c.Approval = signer.ApprovalConfig{StateDir: filepath.Join(t.TempDir(), "approvals"), Rules: rules}
	}})
}

// call makes an approvals call with proof of possession made at t0.
func call(t *testing.T, e *signertest.Env, token string, seed ed25519.PrivateKey, op, id, reason string, t0 time.Time) signer.ApprovalAnswer {
	t.Helper()
	c := signer.ApprovalCall{Token: token, Op: op, ID: id, Reason: reason, Time: t0.Unix(),
		Signature: hex.EncodeToString(ed25519.Sign(seed, signer.ApprovalProof(op, id, reason, t0.Unix())))}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.Client.Post(e.URL+signer.ApprovalsPath, "application/json", strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans signer.ApprovalAnswer
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&ans) != nil {
		t.Fatalf("approvals %s: status %d", op, resp.StatusCode)
	}
	return ans
}

func signWith(t *testing.T, e *signertest.Env, token string, req []byte, seed ed25519.PrivateKey, approvalID string) map[string]string {
	t.Helper()
	body := signertest.SignBody(token, req, seed)
	if approvalID != "" {
		body["approval_id"] = approvalID
	}
	code, out := e.Post(t, signer.SignPath, body)
	if code != http.StatusOK {
		t.Fatalf("sign: %d %v", code, out)
	}
	return out
}

// TestApprovalSignFlow: a held request gets an id and no signature; a
// request no rule names is signed at once, in aaasvc's answer shape;
// the approver's proof is checked; the requester redeems the approval
// once, and what is signed carries the approval in its payload.
func TestApprovalSignFlow(t *testing.T) {
	e := approvalEnv(t)
	bob, bobSeed := e.Login(t, "bob")
	alice, aliceSeed := e.Login(t, "alice")

	if sec, code := e.Sign(t, bob, signertest.Request(t, "rpcutil", "inventory", "up=bob", time.Now(), 60), bobSeed); sec == nil {
		t.Fatalf("a request no rule names must be signed at once: %s", code)
	}
	req := signertest.Request(t, "rpcutil", "ping", "up=bob", time.Now(), 60)
	out := signWith(t, e, bob, req, bobSeed, "")
	id := out["approval_id"]
	if out["error_code"] != signer.CodePendingApproval || out["error"] != signer.PendingMessage || id == "" || out["secure_request"] != "" {
		t.Fatalf("held request answer: %v", out)
	}
	if again := signWith(t, e, bob, req, bobSeed, ""); again["approval_id"] != id {
		t.Fatalf("the same request sent again must get the same approval: %v", again)
	}
	if got := signWith(t, e, bob, req, bobSeed, id); got["error_code"] != signer.CodePendingApproval {
		t.Fatalf("redeeming a pending approval: %v", got)
	}

	// proofs: a signature by another key, a call made long ago
	_, otherSeed, _ := ed25519.GenerateKey(nil)
	if ans := call(t, e, alice, otherSeed, signer.OpApprove, id, "", time.Now()); ans.ErrorCode != signer.CodeBadSignature {
		t.Fatalf("approve with a foreign key: %+v", ans)
	}
	if ans := call(t, e, alice, aliceSeed, signer.OpApprove, id, "", time.Now().Add(-10*time.Minute)); ans.ErrorCode != signer.CodeStale {
		t.Fatalf("approve with an old proof: %+v", ans)
	}
	if ans := call(t, e, bob, bobSeed, signer.OpList, "", "", time.Now()); len(ans.Approvals) != 1 {
		t.Fatalf("bob lists his own pending request: %+v", ans)
	}
	ans := call(t, e, alice, aliceSeed, signer.OpApprove, id, "change 4711", time.Now())
	if ans.Error != "" || len(ans.Approvals) != 1 || ans.Approvals[0].State != signer.ApprovalApproved || ans.Approvals[0].Approver != "up=alice" {
		t.Fatalf("approve: %+v", ans)
	}
	if ans := call(t, e, alice, aliceSeed, signer.OpDeny, id, "late", time.Now()); ans.ErrorCode != signer.CodeApprovalInvalid {
		t.Fatalf("deny after approval: %+v", ans)
	}

	// a different request may not use the approval
	other := signertest.Request(t, "rpcutil", "inventory", "up=bob", time.Now(), 60)
	if got := signWith(t, e, bob, other, bobSeed, id); got["error_code"] != signer.CodeApprovalInvalid {
		t.Fatalf("another request redeeming the approval: %v", got)
	}
	got := signWith(t, e, bob, req, bobSeed, id)
	sec, err := base64.StdEncoding.DecodeString(got["secure_request"])
	if err != nil || len(sec) == 0 {
		t.Fatalf("redeem: %v", got)
	}
	sr, err := protocol.DecodeSecureRequest(sec)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := protocol.DecodeRequest(sr.Message)
	if err != nil {
		t.Fatal(err)
	}
	rpc, err := protocol.DecodeRPCRequest(signed.PayloadBytes())
	if err != nil {
		t.Fatal(err)
	}
	var pa signer.PayloadApproval
	if err := json.Unmarshal(rpc.Approval, &pa); err != nil || pa != (signer.PayloadApproval{ID: id, Requester: "up=bob", Approver: "up=alice"}) {
		t.Fatalf("payload approval %s: %v", rpc.Approval, err)
	}
	if got := signWith(t, e, bob, req, bobSeed, id); got["error_code"] != signer.CodeReplayed {
		t.Fatalf("a second redeem: %v", got)
	}

	var steps []string
	for _, r := range e.AuditRecords(t) {
		if r.ApprovalID == id {
			steps = append(steps, r.Action)
		}
	}
	if strings.Join(steps, ",") != "pending,pending,pending,approved,deny,allow,deny" {
		t.Fatalf("audit history of %s: %v", id, steps)
	}
}

// TestApprovalStateSurvivesReopen: the state directory holds every
// approval; a damaged file stops the service rather than losing it.
func TestApprovalStateSurvivesReopen(t *testing.T) {
	e := approvalEnv(t)
	bob, bobSeed := e.Login(t, "bob")
	out := signWith(t, e, bob, signertest.Request(t, "rpcutil", "ping", "up=bob", time.Now(), 60), bobSeed, "")
	dir := e.Config.Approval.StateDir
	b, err := os.ReadFile(filepath.Join(dir, out["approval_id"]+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var a signer.Approval
	if err := json.Unmarshal(b, &a); err != nil || a.State != signer.ApprovalPending || a.Requester != "up=bob" {
		t.Fatalf("stored approval %s: %v", b, err)
	}
	cfg := *e.Config
	cfg.Port = -1
	quiet := logrus.New()
	quiet.SetOutput(io.Discard)
	if _, err := signer.New(&cfg, signer.Options{Log: logrus.NewEntry(quiet)}); err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "0000000000000000.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := signer.New(&cfg, signer.Options{Log: logrus.NewEntry(quiet)}); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("a damaged state file must stop the start: %v", err)
	}
}

// TestApprovalRules: which filters a rule holds for.
func TestApprovalRules(t *testing.T) {
	e := approvalEnv(t,
		signer.ApprovalRule{Actions: []string{"rpcutil.inventory"}, TargetsOver: 2},
		signer.ApprovalRule{Actions: []string{"rpcutil.ping"}, NoFilter: true})
	bob, seed := e.Login(t, "bob")
	mk := func(action string, f protocol.Filter) []byte {
		msg, err := protocol.EncodeRPCRequest("rpcutil", action, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := protocol.EncodeRequest(&protocol.Request{ID: protocol.NewRequestID(), SenderID: "x", CallerID: "up=bob",
			Collective: "mcollective", Agent: "rpcutil", TTL: 60, Time: time.Now().Unix(), Filter: f, Message: msg})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	agent := []string{"rpcutil"}
	fact := []protocol.FactFilter{{Fact: "role", Operator: "==", Value: "web"}}
	for _, tc := range []struct {
		name, action string
		f            protocol.Filter
		held         bool
	}{
		{"ping, agent filter only", "ping", protocol.NewFilter("rpcutil"), true},
		{"ping, identity", "ping", protocol.Filter{Agent: agent, Identity: []string{"web1"}}, false},
		{"ping, fact", "ping", protocol.Filter{Agent: agent, Fact: fact}, false},
		{"inventory, 2 nodes", "inventory", protocol.Filter{Agent: agent, Identity: []string{"a", "b"}}, false},
		{"inventory, 3 nodes", "inventory", protocol.Filter{Agent: agent, Identity: []string{"a", "b", "c"}}, true},
		{"inventory, regex", "inventory", protocol.Filter{Agent: agent, Identity: []string{"/web/"}}, true},
		{"inventory, fact", "inventory", protocol.Filter{Agent: agent, Fact: fact}, true},
		{"get_fact, no rule", "get_fact", protocol.NewFilter("rpcutil"), false},
	} {
		out := signWith(t, e, bob, mk(tc.action, tc.f), seed, "")
		if held := out["error_code"] == signer.CodePendingApproval; held != tc.held {
			t.Errorf("%s: held %v, want %v: %v", tc.name, held, tc.held, out)
		}
	}
}

func TestApprovalConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  signer.ApprovalConfig
		want string
	}{
		{"no state dir", signer.ApprovalConfig{Rules: []signer.ApprovalRule{{Actions: []string{"*"}}}}, "state_dir is required"},
		{"no actions", signer.ApprovalConfig{StateDir: "/x", Rules: []signer.ApprovalRule{{}}}, "actions is required"},
		{"bad action", signer.ApprovalConfig{StateDir: "/x", Rules: []signer.ApprovalRule{{Actions: []string{"service"}}}}, "must be"},
		{"negative", signer.ApprovalConfig{StateDir: "/x", Rules: []signer.ApprovalRule{{Actions: []string{"*"}, TargetsOver: -1}}}, "targets_over"},
	} {
		c := signer.Config{Port: 1, InsecureHTTP: true, Signer: "basicjwt", PrivilegedCertificate: "a", PrivilegedKey: "b",
			PrivilegedCA: "c", BasicJWT: signer.BasicJWTConfig{SigningCertificate: "d", MaxValidity: signer.Duration(time.Hour)},
			MaxTTL: signer.Duration(time.Hour), Authorizer: "actionlist", Approval: tc.cfg}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestApprovalProofMatchesClient: the client signs the text the
// service checks.
func TestApprovalProofMatchesClient(t *testing.T) {
	if string(signer.ApprovalProof("approve", "ab", "r", 7)) != string(remote.ApprovalProof("approve", "ab", "r", 7)) {
		t.Fatal("client and service approval proofs differ")
	}
}
