package signer

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/tuttifleet/tutti/security/remote"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tuttifleet/tutti/connector/protocol"
)

// Two-person approval (docs/central-aaa.md, "Two-person approval"): the
// approval policy names actions, and optionally filter shapes, whose
// requests tutti-aaa does not sign at once. Such a request is held as
// pending under an approval id; a second person entitled to approve it
// (the token's approve claim, never the requester) approves or denies
// it; the requester then collects the signature, once. Every state is
// written to the state directory before it is answered, so a restart
// loses nothing.

// approvalSweepInterval is how often expired approvals are looked for.
const approvalSweepInterval = 10 * time.Second

// DefaultApprovalExpiry is how long a request waits for a decision, and
// an approved one for its requester to collect it.
const DefaultApprovalExpiry = time.Hour

// Approval states (the API's, security/remote's).
const (
	ApprovalPending  = remote.StatePending
	ApprovalApproved = remote.StateApproved
	ApprovalDenied   = remote.StateDenied
	ApprovalExpired  = remote.StateExpired
	// ApprovalSigned: the approved request was signed for its requester;
	// it is never signed again.
	ApprovalSigned = remote.StateSigned
)

// Error codes of the approval path (docs/signer-api.md §2).
const (
	CodePendingApproval = "pending_approval"
	CodeApprovalDenied  = "approval_denied"
	CodeApprovalExpired = "approval_expired"
	CodeApprovalInvalid = "approval_invalid"
)

// PendingMessage is the error text of a request held for approval.
const PendingMessage = "Request pending approval"

// ApprovalConfig is the approval section of tutti-aaa's configuration.
type ApprovalConfig struct {
	// Rules name what needs a second person; none: nothing does.
	Rules []ApprovalRule `yaml:"rules"`
	// StateDir keeps every approval (one JSON file each) across
	// restarts. Required with rules.
	StateDir string `yaml:"state_dir"`
	// Expiry: how long a pending request waits for a decision, and an
	// approved one for its requester; default 1h.
	Expiry Duration `yaml:"expiry"`
}

// ApprovalRule names actions whose requests need approval. Without a
// filter condition every request for the actions does; with conditions,
// a request does when any of them holds.
type ApprovalRule struct {
	// Actions: "*", "<agent>.*" or "<agent>.<action>".
	Actions []string `yaml:"actions"`
	// NoFilter: the request selects nodes by no fact, class, identity
	// or compound filter (the agent filter alone selects every node with
	// the agent).
	NoFilter bool `yaml:"no_filter"`
	// TargetsOver: the request does not name at most this many nodes by
	// identity (more identities, or a filter whose size the signer
	// cannot know: facts, classes, compound, regular expressions).
	TargetsOver int `yaml:"targets_over"`
}

func (c *ApprovalConfig) validate() []error {
	var errs []error
	for i, r := range c.Rules {
		if len(r.Actions) == 0 {
			errs = append(errs, fmt.Errorf("%w: approval.rules[%d]: actions is required", ErrConfig, i))
		}
		for _, a := range r.Actions {
			if err := AllowedAction([]string{a}, "x", "y"); err != nil && strings.Contains(err.Error(), "invalid") {
				errs = append(errs, fmt.Errorf("%w: approval.rules[%d]: %w", ErrConfig, i, err))
			}
		}
		if r.TargetsOver < 0 {
			errs = append(errs, fmt.Errorf("%w: approval.rules[%d]: targets_over must not be negative", ErrConfig, i))
		}
	}
	if len(c.Rules) > 0 && c.StateDir == "" {
		errs = append(errs, fmt.Errorf("%w: approval.state_dir is required with approval rules", ErrConfig))
	}
	if c.Expiry < 0 {
		errs = append(errs, fmt.Errorf("%w: approval.expiry must not be negative", ErrConfig))
	}
	return errs
}

// needsApproval returns a description of the first rule that holds for
// agent#action with filter, or "".
func needsApproval(rules []ApprovalRule, agent, action string, f *protocol.Filter) string {
	for i, r := range rules {
		if AllowedAction(r.Actions, agent, action) != nil {
			continue
		}
		if !r.NoFilter && r.TargetsOver == 0 {
			return fmt.Sprintf("rule %d: %s#%s always needs approval", i+1, agent, action)
		}
		if r.NoFilter && noFilter(f) {
			return fmt.Sprintf("rule %d: %s#%s without a filter", i+1, agent, action)
		}
		if r.TargetsOver > 0 && !namesAtMost(f, r.TargetsOver) {
			return fmt.Sprintf("rule %d: %s#%s on more than %d nodes or an open filter", i+1, agent, action, r.TargetsOver)
		}
	}
	return ""
}

func noFilter(f *protocol.Filter) bool {
	return len(f.Fact) == 0 && len(f.CFClass) == 0 && len(f.Identity) == 0 && len(f.Compound) == 0 && len(f.Unknown) == 0
}

// namesAtMost reports whether f selects at most n nodes by exact
// identities (a /regex/ identity may match any number).
func namesAtMost(f *protocol.Filter, n int) bool {
	if len(f.Identity) == 0 || len(f.Identity) > n {
		return false
	}
	for _, id := range f.Identity {
		if strings.HasPrefix(id, "/") {
			return false
		}
	}
	return true
}

// Approval is one held request and its history, as stored and as shown
// to approvers: the wire type of the approvals API, shared with the
// client (security/remote) so the two cannot drift apart.
type Approval = remote.Approval

// approvalStore holds the approvals in memory and in dir, one file
// each, written (fsynced, renamed) before any change is answered.
type approvalStore struct {
	dir    string
	expiry time.Duration
	mu     sync.Mutex
	byID   map[string]*Approval
}

func openApprovalStore(dir string, expiry time.Duration) (*approvalStore, error) {
	if expiry <= 0 {
		expiry = DefaultApprovalExpiry
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("approval.state_dir: %w", err)
	}
	st := &approvalStore{dir: dir, expiry: expiry, byID: map[string]*Approval{}}
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("approval.state_dir: %w", err)
	}
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("approval state: %w", err)
		}
		var a Approval
		if err := json.Unmarshal(b, &a); err != nil || a.ID+".json" != filepath.Base(name) {
			return nil, fmt.Errorf("approval state %s is damaged: %v", name, err)
		}
		st.byID[a.ID] = &a
	}
	return st, nil
}

// save writes a durably; the caller holds mu.
func (st *approvalStore) save(a *Approval) error {
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return fmt.Errorf("encode approval: %w", err)
	}
	tmp := filepath.Join(st.dir, "."+a.ID+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write approval state: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(st.dir, a.ID+".json"))
	}
	if err == nil {
		err = syncDir(st.dir)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write approval state: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func newApprovalID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return hex.EncodeToString(b[:])
}

// hold stores a new pending approval, or returns the one already held
// for the same request id and requester (a client asking again).
func (st *approvalStore) hold(a *Approval, now time.Time) (*Approval, bool, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, old := range st.byID {
		if old.RequestID == a.RequestID && old.Requester == a.Requester {
			c := *old
			return &c, false, nil
		}
	}
	a.ID, a.State, a.Created, a.Expires = newApprovalID(), ApprovalPending, now.UTC(), now.Add(st.expiry).UTC()
	if err := st.save(a); err != nil {
		return nil, false, err
	}
	st.byID[a.ID] = a
	c := *a
	return &c, true, nil
}

// errNoApproval is an unknown approval id.
var errNoApproval = errors.New("no such approval")

// transition applies change to approval id under the lock and saves it;
// expired approvals are marked first (and reported through onExpire).
// change returns an error to leave it as it was.
func (st *approvalStore) transition(id string, now time.Time, onExpire func(Approval), change func(*Approval) error) (Approval, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	a, ok := st.byID[id]
	if !ok {
		return Approval{}, errNoApproval
	}
	st.expireLocked(a, now, onExpire)
	c := *a
	if err := change(&c); err != nil {
		return *a, err
	}
	if err := st.save(&c); err != nil {
		return *a, err
	}
	*a = c
	return c, nil
}

// expireLocked marks a expired when its time has passed.
func (st *approvalStore) expireLocked(a *Approval, now time.Time, onExpire func(Approval)) {
	if (a.State != ApprovalPending && a.State != ApprovalApproved) || now.Before(a.Expires) {
		return
	}
	c := *a
	c.State = ApprovalExpired
	if err := st.save(&c); err != nil {
		return // stays as it was on disk; checked again next time
	}
	*a = c
	if onExpire != nil {
		onExpire(c)
	}
}

// get returns approval id after marking it expired when due.
func (st *approvalStore) get(id string, now time.Time, onExpire func(Approval)) (Approval, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	a, ok := st.byID[id]
	if !ok {
		return Approval{}, errNoApproval
	}
	st.expireLocked(a, now, onExpire)
	return *a, nil
}

// list returns the approvals keep selects, oldest first, after marking
// the due ones expired.
func (st *approvalStore) list(now time.Time, onExpire func(Approval), keep func(*Approval) bool) []Approval {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []Approval
	for _, a := range st.byID {
		st.expireLocked(a, now, onExpire)
		if keep(a) {
			out = append(out, *a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out
}

// sameRequest reports whether req asks for exactly what a holds.
func sameRequest(a *Approval, req *protocol.Request, rpc *protocol.RPCRequest) error {
	if req.Agent != a.Agent || rpc.Action != a.Action || req.Collective != a.Collective {
		return fmt.Errorf("request is %s#%s in %s, approval %s is for %s#%s in %s",
			req.Agent, rpc.Action, req.Collective, a.ID, a.Agent, a.Action, a.Collective)
	}
	if !jsonEqual(rpc.Data, a.Data) {
		return fmt.Errorf("request inputs differ from the approved ones")
	}
	f, err := canonicalFilter(&req.Filter)
	if err != nil || !jsonEqual(f, a.Filter) {
		return fmt.Errorf("request filter differs from the approved one")
	}
	return nil
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

// canonicalFilter is the filter's JSON with its identities sorted: a
// request sent again names the same nodes, perhaps in another order.
func canonicalFilter(f *protocol.Filter) ([]byte, error) {
	c := *f
	c.Identity = slices.Clone(f.Identity)
	slices.Sort(c.Identity)
	return json.Marshal(&c)
}

// targets are the filter's identities.
func targets(f *protocol.Filter) []string { return slices.Clone(f.Identity) }
