package deps_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/tuttifleet/tutti"

// A rule says what the packages of one subtree (from, relative to the
// module) must not reach, directly or through other packages of ours.
// Subtrees are matched as path prefixes: "server" is server and
// server/....
type rule struct {
	from string
	// not lists subtrees of ours that from must not reach.
	not []string
	// only, when set, lists the subtrees of ours that from may reach
	// besides its own; anything else of ours is a violation.
	only []string
	// std, when set, forbids every package outside the standard library
	// and this module except those listed (nil: third parties are free).
	std []string
}

// rules are the house's layering (see the folder table of the README):
// the request path connector → security → server → aaa → agents, client
// beside server, config and the protocol as leaves.
var rules = []rule{
	{from: "connector/protocol", only: []string{}, std: []string{}},
	{from: "config", only: []string{}, std: []string{"gopkg.in/yaml.v3"}},
	{from: "internal", only: []string{}}, // small leaves anyone may import
	{from: "agents", only: []string{"connector/protocol", "internal"}},
	{from: "security", not: []string{"server", "client"}},
	{from: "connector", not: []string{"server", "security", "client"}},
	{from: "aaa", not: []string{"server"}},
	{from: "server", not: []string{"client"}},
	{from: "client", not: []string{"server"}},
	{from: "cmd/tutti-aaa", not: []string{"server/daemon"}},
}

// knownViolations are rule breaks being fixed on another branch, keyed
// "from → target" as the test prints them. The test fails on a violation
// not listed here, and on an entry that no longer happens (delete it).
var knownViolations = map[string]string{}

type pkg struct {
	ImportPath string
	Standard   bool
	Imports    []string
}

type graph map[string]*pkg

// loadGraph lists every package of the module with all its dependencies
// (non-test imports only: tests may import what they need).
func loadGraph(t *testing.T) graph {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,Standard,Imports", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	g := graph{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		p := new(pkg)
		if err := dec.Decode(p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		g[p.ImportPath] = p
	}
	return g
}

// rel is path relative to the module, and whether it is ours.
func rel(path string) (string, bool) {
	if path == module {
		return "", true
	}
	r, ok := strings.CutPrefix(path, module+"/")
	return r, ok
}

func under(path, subtree string) bool {
	return path == subtree || strings.HasPrefix(path, subtree+"/")
}

// testSupport tells packages that exist for tests: named …test
// (brokertest, x509test) or importing "testing" outside _test.go files
// (the connector conformance suite).
func (g graph) testSupport(path string) bool {
	r, ours := rel(path)
	if !ours {
		return false
	}
	if productNamedTest[r] {
		return slices.Contains(g[path].Imports, "testing")
	}
	return strings.HasSuffix(r[strings.LastIndex(r, "/")+1:], "test") || slices.Contains(g[path].Imports, "testing")
}

// productNamedTest are product packages whose name ends in "test" for
// another reason than test support: the nettest agent keeps Choria's name.
var productNamedTest = map[string]bool{"agents/nettest": true}

// walk visits the packages start reaches, breadth first. bad says
// whether a package breaks the rule (it is reported, not walked
// through); skip names packages neither reported nor walked through.
// It returns the import chain to each bad package.
func (g graph) walk(start string, bad, skip func(string) bool) [][]string {
	parent := map[string]string{start: ""}
	queue := []string{start}
	var chains [][]string
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, imp := range g[p].Imports {
			if _, seen := parent[imp]; seen || imp == "C" || skip(imp) {
				continue
			}
			parent[imp] = p
			if bad(imp) {
				var chain []string
				for q := imp; q != ""; q = parent[q] {
					chain = append(chain, q)
				}
				slices.Reverse(chain)
				chains = append(chains, chain)
				continue
			}
			queue = append(queue, imp)
		}
	}
	return chains
}

// breaks says whether reaching dep breaks r for a package of r.from.
func (r rule) breaks(g graph, dep string) bool {
	d, ours := rel(dep)
	if !ours {
		return r.std != nil && !g[dep].Standard && !slices.ContainsFunc(r.std, func(s string) bool { return under(dep, s) })
	}
	if under(d, r.from) {
		return false
	}
	for _, n := range r.not {
		if under(d, n) {
			return true
		}
	}
	return r.only != nil && !slices.ContainsFunc(r.only, func(s string) bool { return under(d, s) })
}

func short(chain []string) string {
	out := make([]string, len(chain))
	for i, p := range chain {
		if r, ok := rel(p); ok {
			p = r
		}
		out[i] = p
	}
	return strings.Join(out, " → ")
}

// TestDependencyRules holds the layering: each package of a rule's
// subtree, product or test support, must not reach what the rule
// forbids. Test-support packages may lean on other test-support packages
// (amqtest on x509test), whose own imports are checked on their own.
func TestDependencyRules(t *testing.T) {
	g := loadGraph(t)
	var paths []string
	for p := range g {
		if _, ours := rel(p); ours {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	seen := map[string]bool{}
	for _, p := range paths {
		r0, _ := rel(p)
		for _, r := range rules {
			if !under(r0, r.from) {
				continue
			}
			skip := func(dep string) bool { return g.testSupport(dep) }
			for _, chain := range g.walk(p, func(dep string) bool { return r.breaks(g, dep) }, skip) {
				target, _ := rel(chain[len(chain)-1])
				if target == "" {
					target = chain[len(chain)-1]
				}
				key := r.from + " → " + target
				if issue, ok := knownViolations[key]; ok {
					if !seen[key] {
						t.Logf("known violation (%s): %s", issue, short(chain))
					}
					seen[key] = true
					continue
				}
				t.Errorf("%s must not reach %s: %s", r.from, target, short(chain))
			}
		}
	}
	for key, issue := range knownViolations {
		if !seen[key] {
			t.Errorf("known violation %q (%s) no longer happens: delete it from knownViolations", key, issue)
		}
	}
}

// TestNoTestSupportInProduct: no product package, and so no binary,
// reaches a test-support package or the testing package.
func TestNoTestSupportInProduct(t *testing.T) {
	g := loadGraph(t)
	var paths []string
	for p := range g {
		if _, ours := rel(p); ours && !g.testSupport(p) {
			paths = append(paths, p)
		}
	}
	if len(paths) == 0 {
		t.Fatal("no product packages listed")
	}
	sort.Strings(paths)
	bad := func(dep string) bool { return dep == "testing" || g.testSupport(dep) }
	never := func(string) bool { return false }
	for _, p := range paths {
		for _, chain := range g.walk(p, bad, never) {
			t.Errorf("product package %s links test support: %s", short(chain[:1]), short(chain))
		}
	}
}

// The checks above would pass on an empty or misread graph; make sure
// they see the packages and the edges the house is built of.
func TestGraphIsRead(t *testing.T) {
	g := loadGraph(t)
	for _, want := range [][2]string{
		{"cmd/tuttid", "server/daemon"},
		{"connector/stomp/amqtest", "security/x509/x509test"},
	} {
		from := module + "/" + want[0]
		to := module + "/" + want[1]
		p, ok := g[from]
		if !ok || !slices.Contains(p.Imports, to) {
			t.Errorf("graph misread: %s should import %s", want[0], want[1])
		}
	}
	for _, ts := range []string{"server/broker/brokertest", "connector/stomp/amqtest", "connector/conformance", "security/x509/x509test"} {
		if !g.testSupport(module + "/" + ts) {
			t.Errorf("%s is not recognised as test support", ts)
		}
	}
	for _, prod := range []string{"server/daemon", "cmd/tutti", "internal/procstat"} {
		if g.testSupport(module + "/" + prod) {
			t.Errorf("%s is taken for test support", prod)
		}
	}
}

// TestClientLinksNoOIDC: the tutti client binary (its demo runs
// tutti-aaa without single sign-on) links neither aaa/sso nor an
// OpenID Connect client; tutti-aaa does, so the walk sees them.
func TestClientLinksNoOIDC(t *testing.T) {
	g := loadGraph(t)
	bad := func(dep string) bool {
		return dep == module+"/aaa/sso" || under(dep, "github.com/coreos/go-oidc")
	}
	never := func(string) bool { return false }
	for _, chain := range g.walk(module+"/cmd/tutti", bad, never) {
		t.Errorf("the tutti client links %s: %s", chain[len(chain)-1], short(chain))
	}
	if len(g.walk(module+"/cmd/tutti-aaa", bad, never)) == 0 {
		t.Error("graph misread: tutti-aaa should link aaa/sso and go-oidc")
	}
}
