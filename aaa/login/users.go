package login

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"
)

// ErrUsers is wrapped by every refusal of a users file.
var ErrUsers = errors.New("invalid users file")

// DefaultOrganization is the JWT ou claim when a user names none.
const DefaultOrganization = "choria"

// usersCheckInterval bounds how often Lookup stats the users file.
const usersCheckInterval = time.Second

// User is one entry of the users list. The same struct reads tutti's YAML
// users file and aaasvc's JSON one (docs/signer-api.md §9).
type User struct {
	Username string `json:"username" yaml:"username"`
	// Password is a bcrypt hash ($2a$, $2b$ or $2y$).
	Password string `json:"password" yaml:"password"`
	// CallerID is the JWT callerid claim; default "up=<username>".
	CallerID string `json:"callerid" yaml:"callerid"`
	// Organization is the JWT ou claim; default "choria".
	Organization string `json:"organization" yaml:"organization"`
	// ACLs become the JWT agents claim: "*", "<agent>.*", "<agent>.<action>".
	ACLs []string `json:"acls" yaml:"acls"`
	// Agents is accepted as a synonym of ACLs (merged into it on load).
	Agents []string `json:"agents" yaml:"agents"`
	// OPAPolicy is passed through as the opa_policy claim. tutti-aaa's
	// signer does not evaluate OPA; such users need ACLs to sign anything.
	OPAPolicy string `json:"opa_policy" yaml:"opa_policy"`
	// OPAPolicyFile is read once at load into OPAPolicy.
	OPAPolicyFile string `json:"opa_policy_file" yaml:"opa_policy_file"`
	// Properties become the user_properties claim.
	Properties map[string]string `json:"properties" yaml:"properties"`
	// BrokerPermissions become the permissions claim.
	BrokerPermissions map[string]bool `json:"broker_permissions" yaml:"broker_permissions"`
	// Approve lists the actions whose requests this user may approve or
	// deny when tutti-aaa holds them for a second person (docs/central-aaa.md,
	// "Two-person approval"): "*", "<agent>.*" or "<agent>.<action>", as
	// in ACLs. It becomes the approve claim. Nobody approves their own
	// request.
	Approve []string `json:"approve" yaml:"approve"`
	// TOTPSecret is the base32 secret of the user's second factor
	// (tutti; enrol with tutti-aaa user totp): logins then need a code.
	TOTPSecret string `json:"totp_secret,omitempty" yaml:"totp_secret,omitempty"`
}

// callerIDRe is the shape of a callerid a user may be given.
var callerIDRe = regexp.MustCompile(`^[a-z]+=[^\s=]+$`)

// ParseUsers reads a users list: a YAML or JSON array of User, or a YAML
// mapping with a "users" key holding that array. Every problem found is
// reported, each wrapping ErrUsers.
func ParseUsers(data []byte) ([]User, error) {
	var list []User
	trimmed := bytes.TrimSpace(data)
	switch {
	case len(trimmed) == 0:
		return nil, fmt.Errorf("%w: empty", ErrUsers)
	case trimmed[0] == '[' || trimmed[0] == '{':
		// JSON (aaasvc). Decoded with encoding/json: tab-indented JSON is
		// not valid YAML.
		if trimmed[0] == '{' {
			var doc struct {
				Users []User `json:"users"`
			}
			if err := json.Unmarshal(trimmed, &doc); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrUsers, err)
			}
			list = doc.Users
		} else if err := json.Unmarshal(trimmed, &list); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUsers, err)
		}
	default:
		var node yaml.Node
		if err := yaml.Unmarshal(data, &node); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUsers, err)
		}
		var err error
		if list, err = decodeYAMLUsers(&node); err != nil {
			return nil, err
		}
	}
	return list, normalizeUsers(list)
}

func decodeYAMLUsers(node *yaml.Node) ([]User, error) {
	var list []User
	if len(node.Content) == 1 && node.Content[0].Kind == yaml.MappingNode {
		var doc struct {
			Users []User `yaml:"users"`
		}
		if err := node.Decode(&doc); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUsers, err)
		}
		return doc.Users, nil
	}
	if err := node.Decode(&list); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUsers, err)
	}
	return list, nil
}

// normalizeUsers applies defaults and validates every entry in place.
func normalizeUsers(list []User) error {
	var errs []error
	seen := make(map[string]bool, len(list))
	for i := range list {
		u := &list[i]
		if err := normalizeUser(u); err != nil {
			errs = append(errs, fmt.Errorf("%w: user #%d %q: %w", ErrUsers, i+1, u.Username, err))
			continue
		}
		if seen[u.Username] {
			errs = append(errs, fmt.Errorf("%w: user %q is listed twice", ErrUsers, u.Username))
		}
		seen[u.Username] = true
	}
	return errors.Join(errs...)
}

func normalizeUser(u *User) error {
	if u.Username == "" || strings.ContainsAny(u.Username, ": \t\r\n") {
		return errors.New("username must be non-empty, without spaces or ':'")
	}
	if _, err := bcrypt.Cost([]byte(u.Password)); err != nil {
		return fmt.Errorf("password is not a bcrypt hash (make one with tutti-aaa hash-password): %w", err)
	}
	if err := checkTOTPSecret(u.TOTPSecret); err != nil {
		return err
	}
	if u.CallerID == "" {
		u.CallerID = "up=" + u.Username
	}
	if !callerIDRe.MatchString(u.CallerID) {
		return fmt.Errorf("callerid %q is not of the form <kind>=<name>", u.CallerID)
	}
	if u.Organization == "" {
		u.Organization = DefaultOrganization
	}
	u.ACLs = append(u.ACLs, u.Agents...)
	u.Agents = nil
	for _, a := range u.ACLs {
		if err := ValidateACL(a); err != nil {
			return err
		}
	}
	for _, a := range u.Approve {
		if err := ValidateACL(a); err != nil {
			return fmt.Errorf("approve: %w", err)
		}
	}
	if u.OPAPolicyFile != "" && u.OPAPolicy == "" {
		b, err := os.ReadFile(u.OPAPolicyFile)
		if err != nil {
			return fmt.Errorf("read opa_policy_file: %w", err)
		}
		u.OPAPolicy = string(b)
	}
	return nil
}

// ValidateACL checks one agents entry: "*", or "<agent>.<action>" with
// exactly one dot, where action may be "*".
func ValidateACL(a string) error {
	if a == "*" {
		return nil
	}
	agent, action, ok := strings.Cut(a, ".")
	if !ok || agent == "" || action == "" || strings.Contains(action, ".") {
		return fmt.Errorf("acl %q must be \"*\", \"<agent>.*\" or \"<agent>.<action>\"", a)
	}
	return nil
}

// Users is the users list, held as an immutable snapshot. When it was
// loaded from a file, Lookup notices a changed mtime or size (checked at
// most once a second) and swaps in the new list; a broken new file is
// logged and the old list kept. Lookups never wait for a reload.
type Users struct {
	path string
	log  *logrus.Entry

	snap      atomic.Pointer[userSnapshot]
	lastCheck atomic.Int64 // unix nanoseconds
	reloadMu  sync.Mutex
}

type userSnapshot struct {
	byName map[string]*User
	mtime  time.Time
	size   int64
}

// NewUsers holds a fixed list (aaasvc's inline "users" setting).
func NewUsers(list []User) (*Users, error) {
	if err := normalizeUsers(list); err != nil {
		return nil, err
	}
	u := &Users{}
	u.snap.Store(newSnapshot(list, time.Time{}, 0))
	return u, nil
}

// LoadUsersFile reads path and watches it for changes.
func LoadUsersFile(path string, log *logrus.Entry) (*Users, error) {
	u := &Users{path: path, log: log}
	if err := u.Reload(); err != nil {
		return nil, err
	}
	return u, nil
}

func newSnapshot(list []User, mtime time.Time, size int64) *userSnapshot {
	s := &userSnapshot{byName: make(map[string]*User, len(list)), mtime: mtime, size: size}
	for i := range list {
		s.byName[list[i].Username] = &list[i]
	}
	return s
}

// Reload re-reads the users file now. It is a no-op for a fixed list.
func (u *Users) Reload() error {
	if u.path == "" {
		return nil
	}
	u.reloadMu.Lock()
	defer u.reloadMu.Unlock()
	return u.reloadLocked(true)
}

func (u *Users) reloadLocked(force bool) error {
	u.lastCheck.Store(time.Now().UnixNano())
	st, err := os.Stat(u.path)
	if err != nil {
		return fmt.Errorf("users file: %w", err)
	}
	if old := u.snap.Load(); !force && old != nil && old.mtime.Equal(st.ModTime()) && old.size == st.Size() {
		return nil
	}
	data, err := os.ReadFile(u.path)
	if err != nil {
		return fmt.Errorf("users file: %w", err)
	}
	list, err := ParseUsers(data)
	if err != nil {
		return fmt.Errorf("users file %s: %w", u.path, err)
	}
	u.snap.Store(newSnapshot(list, st.ModTime(), st.Size()))
	if u.log != nil {
		u.log.WithField("users", len(list)).Infof("Loaded users from %s", u.path)
	}
	return nil
}

// Lookup returns the user called name. The *User is shared and must not
// be modified.
func (u *Users) Lookup(name string) (*User, bool) {
	u.maybeReload()
	usr, ok := u.snap.Load().byName[name]
	return usr, ok
}

// Len is the number of users.
func (u *Users) Len() int { return len(u.snap.Load().byName) }

func (u *Users) maybeReload() {
	if u.path == "" || time.Since(time.Unix(0, u.lastCheck.Load())) < usersCheckInterval {
		return
	}
	if !u.reloadMu.TryLock() {
		return // someone else is checking; use the current list
	}
	defer u.reloadMu.Unlock()
	if err := u.reloadLocked(false); err != nil && u.log != nil {
		u.log.WithError(err).Error("Users file changed but could not be loaded, keeping the previous list")
	}
}
