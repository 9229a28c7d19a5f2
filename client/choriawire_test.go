package client

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/connector/protocol/compound"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// choriaSelects are -S expressions as MCollective and Choria users type
// them; testdata/choria_compound.golden holds the request each one
// becomes on the wire.
var choriaSelects = []string{
	`role=web and country=mt`,
	`role=web and not /^db/`,
	`(role=web or role=db) and cpus>=4`,
	`apache && !country=uk`,
	`os.family=/^deb/ or os.family=~^ubu`,
	`with('role=web') and fact('cpus') > 2`,
	`role=web and include(fact('ips'), '10.0.0.1')`,
	`facts.os.family == 'linux'`,
}

// TestChoriaCompoundWire encodes a request for each -S into the request a
// real Choria client sent (testdata/choria_request.json, a capture of
// choria req rpcutil ping) and compares it with the golden file: the
// envelope keeps Choria's fields and order, and each compound expression
// is in the form Choria's nodes compile. go test -run ChoriaCompoundWire
// -update rewrites the golden file.
func TestChoriaCompoundWire(t *testing.T) {
	captured, err := os.ReadFile("testdata/choria_request.json")
	if err != nil {
		t.Fatal(err)
	}
	base, err := protocol.DecodeRequest(captured)
	if err != nil {
		t.Fatalf("captured request: %v", err)
	}
	var out bytes.Buffer
	for _, src := range choriaSelects {
		f, err := BuildFilter(FilterOptions{Select: []string{src}, Agent: []string{"rpcutil"}})
		if err != nil {
			t.Fatalf("-S %q: %v", src, err)
		}
		req := *base
		req.Filter = f
		b, err := protocol.EncodeRequest(&req)
		if err != nil {
			t.Fatal(err)
		}
		var ind bytes.Buffer
		if err := json.Indent(&ind, b, "", " "); err != nil {
			t.Fatal(err)
		}
		out.WriteString("# -S " + src + "\n")
		out.Write(ind.Bytes())
		out.WriteString("\n")

		// Every expression on the wire parses on tutti's nodes, and has no
		// bare MCollective statement left for Choria's to trip on.
		back, err := protocol.DecodeRequest(b)
		if err != nil {
			t.Fatalf("-S %q: the encoded request does not decode: %v", src, err)
		}
		expr := back.Filter.Compound[0][0].Expr
		x, err := compound.Parse(expr)
		if err != nil {
			t.Fatalf("-S %q: wire form %q does not parse: %v", src, expr, err)
		}
		if x.ChoriaForm() != expr {
			t.Errorf("-S %q: wire form %q still has bare statements", src, expr)
		}
	}
	golden := filepath.Join("testdata", "choria_compound.golden")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got := out.String(); got != string(want) {
		t.Errorf("wire requests differ from %s (-update rewrites it):\n%s", golden, diffLines(string(want), got))
	}
}

func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var a, c string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if a != c {
			b.WriteString("- " + a + "\n+ " + c + "\n")
		}
	}
	return b.String()
}

func TestChoriaWarnings(t *testing.T) {
	got := ChoriaWarnings(FilterOptions{
		Select: []string{`role=web and include(classes, 'apache')`, `facts.os.family == 'linux'`, `with('role=web')`, `((`},
		Fact:   []string{"os=~^deb", "role=web"},
		With:   []string{"apache cpus=/4/"},
	})
	want := []string{"include(classes", "facts.os.family", `"os=~^deb"`, `"cpus=/4/"`}
	if len(got) != len(want) {
		t.Fatalf("warnings %q, want %d", got, len(want))
	}
	for i, w := range want {
		if !strings.Contains(got[i], w) {
			t.Errorf("warning %d %q does not name %s", i, got[i], w)
		}
	}
	if w := ChoriaWarnings(FilterOptions{Select: []string{"role=web and country=mt"}, Fact: []string{"role=web"}}); len(w) != 0 {
		t.Errorf("translated statements warned: %q", w)
	}
}
