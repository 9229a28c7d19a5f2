package mcollective

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	rm "github.com/tuttifleet/tutti/connector/mcollective/rubymarshal"
)

func capture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name + ".b64")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestCapturedRequests(t *testing.T) {
	for _, c := range []struct {
		name   string
		s      Serializer
		id     string
		agent  string
		filter []string
	}{
		{"0001-broadcast-request", Marshal, "e8b1876f7a445c1098e27c219f1f7157", "discovery", nil},
		{"0004-directed-request", Marshal, "c9ff806ab19b5e43805a38536c43dc06", "rpcutil", []string{"rpcutil"}},
		{"0001-directed-request", YAML, "51352659bde85cd9bfb7022d7d0cb0d5", "rpcutil", []string{"rpcutil"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := DecodeRequest(c.s, capture(t, c.name))
			if err != nil {
				t.Fatal(err)
			}
			if r.RequestID != c.id || r.Agent != c.agent || r.CallerID != "cert=alice" || r.SenderID != "mco-client-alice" ||
				r.Collective != "mcollective" || r.TTL != 60 || strings.Join(r.Filter.Agent, ",") != strings.Join(c.filter, ",") {
				t.Fatalf("decoded %+v", r)
			}
			b, err := DecodeBody(c.s, r.Body)
			if err != nil {
				t.Fatal(err)
			}
			if b.TTL != r.TTL || b.MsgTime != r.MsgTime {
				t.Fatalf("body ttl/msgtime %d/%d, outer %d/%d", b.TTL, b.MsgTime, r.TTL, r.MsgTime)
			}
			rpc, isRPC, err := b.RPC()
			if err != nil {
				t.Fatal(err)
			}
			if c.agent == "discovery" {
				if isRPC || b.Msg != "ping" {
					t.Fatalf("discovery body %#v", b.Msg)
				}
				return
			}
			if rpc.Agent != "rpcutil" || rpc.Action != "ping" || rpc.Caller != "cert=alice" {
				t.Fatalf("rpc %+v", rpc)
			}
			if pr, _ := rpc.Data.Get(rm.Symbol("process_results")); pr != true {
				t.Fatalf("data %#v", rpc.Data)
			}
		})
	}
}

// The YAML body is handed on exactly as Psych wrote it (the signature
// covers those bytes).
func TestYAMLBodyExact(t *testing.T) {
	r, err := DecodeRequest(YAML, capture(t, "0001-directed-request"))
	if err != nil {
		t.Fatal(err)
	}
	want := "---\n:ssl_msg:\n  :agent: rpcutil\n  :action: ping\n  :caller: cert=alice\n  :data:\n    :process_results: true\n:ssl_ttl: 60\n:ssl_msgtime: 1795359287\n"
	if string(r.Body) != want {
		t.Fatalf("body %q", r.Body)
	}
}

func TestCapturedReplies(t *testing.T) {
	for _, c := range []struct {
		name string
		s    Serializer
		pong bool
	}{{"0003-reply", Marshal, true}, {"0005-reply", Marshal, false}, {"0002-reply", YAML, false}} {
		t.Run(c.name, func(t *testing.T) {
			r, err := DecodeReply(c.s, capture(t, c.name))
			if err != nil {
				t.Fatal(err)
			}
			rb, pong, err := DecodeReplyBody(c.s, r.Body)
			if err != nil {
				t.Fatal(err)
			}
			if pong != c.pong {
				t.Fatalf("pong %v", pong)
			}
			if !pong {
				d, _ := rb.Data.(*rm.Hash).Get(rm.Symbol("pong"))
				if rb.StatusCode != 0 || rb.StatusMsg != "OK" || d != r.MsgTime {
					t.Fatalf("reply body %+v", rb)
				}
			}
		})
	}
}

func testKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// A request built, signed, encoded and decoded in both serializers
// verifies; a changed body does not.
func TestSignedRoundTrip(t *testing.T) {
	key := testKey(t)
	for _, s := range []Serializer{Marshal, YAML} {
		t.Run(s.Name(), func(t *testing.T) {
			data := rm.Sym("process_results", true, "fact", "role", "list", []rm.Value{"a", int64(2)}, "odd", "line\nbreak: \"x\"")
			body, err := EncodeBody(s, &Body{Msg: RPCMsg(&RPC{Agent: "rpcutil", Action: "get_fact", Caller: "cert=alice", Data: data}), TTL: 60, MsgTime: 1795357850})
			if err != nil {
				t.Fatal(err)
			}
			hash, err := Sign(key, body)
			if err != nil {
				t.Fatal(err)
			}
			in := &Request{Body: body, SenderID: "c", RequestID: "0123456789abcdef0123456789abcdef", Collective: "mcollective",
				Agent: "rpcutil", CallerID: "cert=alice", TTL: 60, MsgTime: 1795357850, Hash: hash,
				Filter: Filter{Fact: []FactFilter{{"role", "==", "web"}}, Identity: []string{"/^n/"}, CFClass: []string{}, Agent: []string{},
					Compound: [][]Token{{{"statement", "role=web"}, {"and", "and"}, {"not", "not"}, {"statement", "/db/"}}}}}
			wire, err := EncodeRequest(s, in)
			if err != nil {
				t.Fatal(err)
			}
			out, err := DecodeRequest(s, wire)
			if err != nil {
				t.Fatalf("%v\n%s", err, wire)
			}
			if !reflect.DeepEqual(in, out) {
				t.Fatalf("round trip:\n in %+v\nout %+v", in, out)
			}
			if err := Verify(&key.PublicKey, out.Body, out.Hash); err != nil {
				t.Fatal(err)
			}
			b, err := DecodeBody(s, out.Body)
			if err != nil {
				t.Fatal(err)
			}
			rpc, _, err := b.RPC()
			if err != nil || !reflect.DeepEqual(rpc.Data, data) {
				t.Fatalf("data %#v, %v", rpc.Data, err)
			}
			tampered := append([]byte{}, out.Body...)
			tampered[len(tampered)-3] ^= 1
			if err := Verify(&key.PublicKey, tampered, out.Hash); !errors.Is(err, ErrSignature) {
				t.Fatalf("tampered body: %v", err)
			}
		})
	}
}

func TestCallerName(t *testing.T) {
	for in, want := range map[string]string{"cert=alice": "alice", "cert=a.b-c_d": "a.b-c_d"} {
		if got, err := CallerName(in); err != nil || got != want {
			t.Errorf("%q: %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"xcert=alice", "cert=alice/x", "cert=", "cert=..", "cert=.", "choria=alice", "cert=alice ", "cert=al ice", "cert=alice\n"} {
		if _, err := CallerName(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// Ruby object tags are refused by the YAML decoder (Psych would
// instantiate them with unsafe_load).
func TestYAMLRefusesObjects(t *testing.T) {
	for _, in := range []string{
		"--- !ruby/object:Gem::Installer\ni: x\n",
		"---\n:a: !ruby/hash:Foo {}\n",
		"---\n:a: &x [1]\n:b: *x\n",
		"---\n:a: !!python/object:os.system x\n",
	} {
		if v, err := YAML.Unmarshal([]byte(in)); err == nil {
			t.Errorf("%q accepted as %#v", in, v)
		}
	}
}

func FuzzDecodeRequest(f *testing.F) {
	for _, n := range []string{"0001-broadcast-request", "0004-directed-request", "0001-directed-request"} {
		f.Add(capture(f, n))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, s := range []Serializer{Marshal, YAML} {
			r, err := DecodeRequest(s, in)
			if err != nil {
				continue
			}
			if _, err := EncodeRequest(s, r); err != nil && s == Marshal {
				t.Fatalf("decoded request does not encode: %v", err)
			}
			if b, err := DecodeBody(s, r.Body); err == nil {
				b.RPC() //nolint:errcheck // must not panic
			}
		}
	})
}

func FuzzYAML(f *testing.F) {
	f.Add(capture(f, "0002-reply"))
	f.Add(capture(f, "0001-directed-request"))
	f.Fuzz(func(t *testing.T, in []byte) {
		v, err := YAML.Unmarshal(in)
		if err != nil {
			return
		}
		out, err := YAML.Marshal(v)
		if err != nil {
			return // e.g. a symbol Psych could not write plainly either
		}
		v2, err := YAML.Unmarshal(out)
		if err != nil {
			t.Fatalf("re-encoded %q does not decode: %v\n(from %q)", out, err, in)
		}
		if !reflect.DeepEqual(v, v2) {
			t.Fatalf("round trip of %q:\n%#v\n%#v\nvia %q", in, v, v2, out)
		}
	})
}
