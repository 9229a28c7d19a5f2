package client

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/connector/protocol/compound"
)

func TestBuildFilter(t *testing.T) {
	fact := func(n, op, v string) protocol.FactFilter { return protocol.FactFilter{Fact: n, Operator: op, Value: v} }
	cases := []struct {
		name string
		o    FilterOptions
		want protocol.Filter
	}{
		{"empty", FilterOptions{}, protocol.Filter{}},
		{"identities", FilterOptions{Identity: []string{"web1.example.net", "/^db\\d+/", "node_2-a"}},
			protocol.Filter{Identity: []string{"web1.example.net", "/^db\\d+/", "node_2-a"}}},
		{"agents", FilterOptions{Agent: []string{"rpcutil", "/^pup/"}}, protocol.Filter{Agent: []string{"rpcutil", "/^pup/"}}},
		{"classes", FilterOptions{Class: []string{"Role::Web", "/^profile/"}}, protocol.Filter{CFClass: []string{"Role::Web", "/^profile/"}}},
		{"facts", FilterOptions{Fact: []string{"role=web", "cpus=>4", "os.family=/^deb/", "a=b=c"}},
			protocol.Filter{Fact: []protocol.FactFilter{fact("role", "==", "web"), fact("cpus", ">=", "4"), fact("os.family", "=~", "/^deb/"), fact("a=b", "==", "c")}}},
		{"with", FilterOptions{With: []string{"role=web apache  /^profile/", "cpus>4"}},
			protocol.Filter{Fact: []protocol.FactFilter{fact("role", "==", "web"), fact("cpus", ">", "4")}, CFClass: []string{"apache", "/^profile/"}}},
		// Bare MCollective statements travel in the form Choria compiles.
		{"select", FilterOptions{Select: []string{"role=web and not /^db/", "with('apache')"}},
			protocol.Filter{Compound: [][]protocol.CompoundEntry{{{Expr: "with('role=web') and not with('/^db/')"}}, {{Expr: "with('apache')"}}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := BuildFilter(c.o)
			if err != nil {
				t.Fatal(err)
			}
			want := c.want
			for _, l := range []*[]string{&want.Identity, &want.Agent, &want.CFClass} {
				if *l == nil {
					*l = []string{}
				}
			}
			if want.Fact == nil {
				want.Fact = []protocol.FactFilter{}
			}
			if want.Compound == nil {
				want.Compound = [][]protocol.CompoundEntry{}
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("BuildFilter =\n%#v\nwant\n%#v", got, want)
			}
		})
	}
}

func TestBuildFilterJSON(t *testing.T) {
	f, err := BuildFilter(FilterOptions{Select: []string{"apache"}})
	if err != nil {
		t.Fatal(err)
	}
	// encode the struct's fields directly: no list may be null
	type plain protocol.Filter
	b, err := json.Marshal(plain(f))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"fact":[],"cf_class":[],"agent":[],"identity":[],"compound":[[{"expr":"with('apache')"}]]}`
	if string(b) != want {
		t.Fatalf("JSON = %s, want %s", b, want)
	}
}

func TestBuildFilterErrors(t *testing.T) {
	cases := []struct {
		name string
		o    FilterOptions
		want string
	}{
		{"identity with space", FilterOptions{Identity: []string{"web 1"}}, `-I "web 1": must be /regex/ or a name`},
		{"identity empty", FilterOptions{Identity: []string{""}}, `-I "": must be`},
		{"identity bad regex", FilterOptions{Identity: []string{"/(/"}}, `-I "/(/": invalid regular expression`},
		{"agent upper case", FilterOptions{Agent: []string{"RPCUtil"}}, `-A "RPCUtil": must be /regex/ or a name made of lower-case`},
		{"agent dash", FilterOptions{Agent: []string{"my-agent"}}, `-A "my-agent"`},
		{"agent bad regex", FilterOptions{Agent: []string{"/[/"}}, `-A "/[/": invalid regular expression`},
		{"class bad regex", FilterOptions{Class: []string{"/[/"}}, `-C "/[/"`},
		{"class empty", FilterOptions{Class: []string{""}}, `-C "": a class name must be non-empty`},
		{"class with space", FilterOptions{Class: []string{"a b"}}, `-C "a b"`},
		{"fact no operator", FilterOptions{Fact: []string{"role"}}, `-F "role": invalid fact test`},
		{"fact no value", FilterOptions{Fact: []string{"role="}}, `-F "role="`},
		{"fact bad regex", FilterOptions{Fact: []string{"os=~("}}, `-F "os=~(": invalid regular expression`},
		{"with bad fact", FilterOptions{With: []string{"apache role="}}, `-W "role="`},
		{"with bad regex", FilterOptions{With: []string{"/(/"}}, `-W "/(/"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := BuildFilter(c.o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestBuildFilterSelectSyntaxError(t *testing.T) {
	_, err := BuildFilter(FilterOptions{Select: []string{"role=web and (apache or"}})
	var se *compound.SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("error %v does not wrap a *compound.SyntaxError", err)
	}
	if se.Pos != len("role=web and (apache or") {
		t.Fatalf("Pos = %d, want the end of the expression", se.Pos)
	}
	if !strings.HasPrefix(err.Error(), "-S: ") || !strings.Contains(err.Error(), "^") {
		t.Fatalf("error text %q lacks the flag or the caret", err)
	}
}

func TestIdentityOnly(t *testing.T) {
	cases := []struct {
		name  string
		o     FilterOptions
		names []string
		ok    bool
	}{
		{"exact identities", FilterOptions{Identity: []string{"a.example", "b"}}, []string{"a.example", "b"}, true},
		{"empty", FilterOptions{}, nil, false},
		{"regex identity", FilterOptions{Identity: []string{"a", "/^b/"}}, nil, false},
		{"with fact", FilterOptions{Identity: []string{"a"}, Fact: []string{"role=web"}}, nil, false},
		{"with class", FilterOptions{Identity: []string{"a"}, Class: []string{"apache"}}, nil, false},
		{"with agent", FilterOptions{Identity: []string{"a"}, Agent: []string{"puppet"}}, nil, false},
		{"with select", FilterOptions{Identity: []string{"a"}, Select: []string{"true"}}, nil, false},
		{"with -W", FilterOptions{Identity: []string{"a"}, With: []string{"apache"}}, nil, false},
		{"blank -W", FilterOptions{Identity: []string{"a"}, With: []string{"  "}}, []string{"a"}, true},
		{"invalid name", FilterOptions{Identity: []string{"a b"}}, nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			names, ok := c.o.IdentityOnly()
			if ok != c.ok || !reflect.DeepEqual(names, c.names) {
				t.Fatalf("IdentityOnly = %v, %v; want %v, %v", names, ok, c.names, c.ok)
			}
		})
	}
}
