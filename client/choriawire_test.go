package client

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/connector/protocol/compound"
	"github.com/tuttifleet/tutti/security/x509"
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

// TestChoriaRepliesNeverDropped feeds the replies real Choria servers
// sent (testdata/choria_replies.jsonl, captured from a Choria fleet: the
// discovery pongs and rpcutil replies of three nodes) through the
// client's verification. Choria servers never sign their replies: with
// signed replies required each is refused as unsigned, with its sender
// and a reason, never skipped as undecodable (a silent drop would let
// tutti rpc exit 0 without them); accepted, each is Unsigned.
func TestChoriaRepliesNeverDropped(t *testing.T) {
	f, err := os.Open("testdata/choria_replies.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := newReplyRig(t, x509.KeyRSA)
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	pongs := 0
	for n := 1; sc.Scan(); n++ {
		var m struct{ Data, Subject string }
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		id := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
		for _, accept := range []bool{false, true} {
			r.c.o.AcceptUnsignedReplies = accept
			res, ok := r.c.verify(requestIDs{first: id}, []byte(m.Data))
			switch {
			case !ok:
				t.Fatalf("reply %d dropped (accept unsigned %v)", n, accept)
			case !strings.HasSuffix(res.Sender, ".choria.local"):
				t.Fatalf("reply %d: sender %q", n, res.Sender)
			case !accept && (res.State != Failed || res.Reason != ReasonUnsigned || !errors.Is(res.Err, protocol.ErrSignature)):
				t.Fatalf("reply %d from %s: %s %q %v, want refused unsigned", n, res.Sender, res.State, res.Reason, res.Err)
			case accept && res.State != Unsigned:
				t.Fatalf("reply %d from %s: %s %v, want unsigned", n, res.Sender, res.State, res.Err)
			}
			if accept && string(res.Body) == "pong" {
				pongs++
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if pongs < 3 {
		t.Fatalf("%d discovery pongs in the capture, want at least 3", pongs)
	}
}
