package actionpolicy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

// fakeClock drives the once-per-second change check.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestAuthorizer(t *testing.T, cfg Config, files map[string][]string) (*Authorizer, *fakeClock, *logtest.Hook) {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	writeFiles(t, cfg.Dir, files)
	logger, hook := logtest.NewNullLogger()
	a, err := New(cfg, logrus.NewEntry(logger))
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Now()}
	a.now = clock.now
	return a, clock, hook
}

// rewrite replaces a file and moves its mtime forward so the change is
// visible even on file systems with coarse timestamps.
func rewrite(t *testing.T, dir, name string, lines ...string) {
	t.Helper()
	path := filepath.Join(dir, name)
	writeFiles(t, dir, map[string][]string{name: lines})
	future := time.Now().Add(time.Duration(len(lines)+2) * time.Second)
	if err := os.Chtimes(path, future, future); err != nil {
		t.Fatal(err)
	}
}

func TestAuthorizerReloadsOnChange(t *testing.T) {
	a, clock, _ := newTestAuthorizer(t, Config{}, map[string][]string{"rpcutil.policy": {"policy default deny"}})
	dir := a.cfg.Dir
	ping := request("globex", "cert=x", "rpcutil#ping")
	steps := []struct {
		name    string
		change  func()
		advance time.Duration
		call    string
		allow   bool
		reason  string
	}{
		{"initial", func() {}, 0, "rpcutil#ping", false, "Denying based on default policy in rpcutil.policy"},
		{"changed but cached within the second", func() { rewrite(t, dir, "rpcutil.policy", "policy default allow") }, 500 * time.Millisecond, "rpcutil#ping", false, "Denying based on default policy in rpcutil.policy"},
		{"picked up after a second", func() {}, 600 * time.Millisecond, "rpcutil#ping", true, "Allowing based on default policy in rpcutil.policy"},
		{"new file", func() { rewrite(t, dir, "puppet.policy", "policy default allow", "# x") }, 1100 * time.Millisecond, "puppet#status", true, "Allowing based on default policy in puppet.policy"},
		{"removed file", func() { _ = os.Remove(filepath.Join(dir, "puppet.policy")) }, 1100 * time.Millisecond, "puppet#status", false, "no policy found for puppet"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.change()
			clock.advance(s.advance)
			req := ping
			req.Agent, req.Action, _ = strings.Cut(s.call, "#")
			d := a.Authorize(req)
			if d.Allowed != s.allow || d.Reason != s.reason {
				t.Fatalf("got %+v, want allow=%v reason %q", d, s.allow, s.reason)
			}
		})
	}
}

func TestAuthorizerGroupsChange(t *testing.T) {
	a, clock, _ := newTestAuthorizer(t, Config{}, map[string][]string{
		"rpcutil.policy": {"policy default deny", "allow\tadmins\t*\t*\t*"},
		"groups":         {"admins cert=alice"},
	})
	bob := request("globex", "cert=bob", "rpcutil#ping")
	if d := a.Authorize(bob); d.Allowed {
		t.Fatalf("bob allowed before joining admins: %+v", d)
	}
	rewrite(t, a.cfg.Dir, "groups", "admins cert=alice cert=bob")
	clock.advance(2 * time.Second)
	if d := a.Authorize(bob); !d.Allowed || d.Line != 2 {
		t.Fatalf("bob denied after joining admins: %+v", d)
	}
}

func TestAuthorizerReloadForced(t *testing.T) {
	a, _, _ := newTestAuthorizer(t, Config{}, map[string][]string{"rpcutil.policy": {"policy default deny"}})
	req := request("globex", "cert=x", "rpcutil#ping")
	rewrite(t, a.cfg.Dir, "rpcutil.policy", "policy default allow")
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if d := a.Authorize(req); !d.Allowed {
		t.Fatalf("Reload did not pick up the change: %+v", d)
	}
	rewrite(t, a.cfg.Dir, "rpcutil.policy", "policy default allow", "allow admins * * *")
	err := a.Reload()
	var pe *PolicyError
	if !errors.As(err, &pe) || pe.File != "rpcutil.policy" || pe.Line != 2 {
		t.Fatalf("Reload error = %v, want the refused file and line", err)
	}
	if d := a.Authorize(req); d.Allowed {
		t.Fatalf("refused file allowed: %+v", d)
	}
}

func TestAuthorizerParseFailureDenies(t *testing.T) {
	cfg := Config{AllowUnconfigured: true, EnableDefault: true}
	a, _, hook := newTestAuthorizer(t, cfg, map[string][]string{
		"rpcutil.policy": {"policy default allow", "allow\t*\t*\t*\t*", "allow admins ping * *"},
		"default.policy": {"policy default allow"},
	})
	d := a.Authorize(request("globex", "cert=rip", "rpcutil#ping"))
	if d.Allowed || d.Policy != "rpcutil.policy" || d.Line != 3 || !errors.Is(d.Err, ErrPolicy) {
		t.Fatalf("got %+v", d)
	}
	if !strings.Contains(d.Reason, "policy error in rpcutil.policy line 3") || !strings.Contains(d.Reason, "use TABs between fields") {
		t.Errorf("reason %q", d.Reason)
	}
	logged := false
	for _, e := range hook.AllEntries() {
		if e.Level == logrus.ErrorLevel && e.Data["file"] == "rpcutil.policy" && e.Data["line"] == 3 {
			logged = true
		}
	}
	if !logged {
		t.Error("refusal not logged at Error level with file and line")
	}
}

// oversize makes a file unreadable for the Authorizer, also for root.
func oversize(t *testing.T, path string) {
	t.Helper()
	if err := os.Truncate(path, maxFileBytes+1); err != nil {
		t.Fatal(err)
	}
}

func TestAuthorizerUnreadableFile(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string][]string{"rpcutil.policy": {"policy default allow"}})
	oversize(t, filepath.Join(dir, "rpcutil.policy"))
	a, _, _ := newTestAuthorizer(t, Config{Dir: dir, AllowUnconfigured: true}, nil)
	if d := a.Authorize(request("globex", "cert=x", "rpcutil#ping")); d.Allowed || !errors.Is(d.Err, ErrPolicy) {
		t.Fatalf("unreadable file: %+v", d)
	}
}

func TestAuthorizerMissingDir(t *testing.T) {
	for _, allow := range []bool{false, true} {
		dir := filepath.Join(t.TempDir(), "nope")
		a, _, _ := newTestAuthorizer(t, Config{Dir: dir, AllowUnconfigured: allow}, nil)
		d := a.Authorize(request("globex", "cert=x", "rpcutil#ping"))
		if d.Allowed != allow || d.Policy != "" || !strings.HasPrefix(d.Reason, "no policy found for rpcutil") {
			t.Fatalf("allow_unconfigured=%v: %+v", allow, d)
		}
	}
}

func TestNewConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no dir", Config{}},
		{"default name with slash", Config{Dir: t.TempDir(), DefaultName: "../x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg, nil); err == nil {
				t.Fatal("New accepted a bad config")
			}
		})
	}
}

func TestAuthorizerConcurrentReload(t *testing.T) {
	a, clock, _ := newTestAuthorizer(t, Config{}, map[string][]string{"rpcutil.policy": {"policy default deny", "allow\tcert=a\t*\t*\t*"}})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				clock.advance(10 * time.Millisecond)
				if d := a.Authorize(request("globex", "cert=a", "rpcutil#ping")); !d.Allowed {
					t.Errorf("denied: %+v", d)
					return
				}
			}
		}()
	}
	for i := 0; i < 20; i++ {
		if err := a.Reload(); err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
}

func TestAuthorizerUnreadableGroups(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string][]string{
		"rpcutil.policy": {"policy default allow", "deny\tadmins\t*\t*\t*"},
		"groups":         {"admins cert=alice"},
	})
	oversize(t, filepath.Join(dir, "groups"))
	a, _, _ := newTestAuthorizer(t, Config{Dir: dir}, nil)
	// without the groups a deny rule naming a group would silently not match
	d := a.Authorize(request("globex", "cert=alice", "rpcutil#ping"))
	if d.Allowed || !errors.Is(d.Err, ErrPolicy) || !strings.Contains(d.Reason, "groups file is unusable") {
		t.Fatalf("unreadable groups: %+v", d)
	}
	if err := a.Reload(); !errors.Is(err, ErrPolicy) {
		t.Fatalf("Reload = %v", err)
	}
}
