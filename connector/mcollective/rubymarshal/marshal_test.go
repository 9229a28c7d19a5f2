package rubymarshal

import (
	"bytes"
	"encoding/base64"
	"errors"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
)

func capture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../testdata/" + name + ".b64")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func mustHash(t *testing.T, v Value) *Hash {
	t.Helper()
	h, ok := v.(*Hash)
	if !ok {
		t.Fatalf("want a hash, got %T", v)
	}
	return h
}

// The captured directed rpcutil#ping request of MCollective 2.12.5
// decodes to the hash Ruby's Marshal.load shows, including the object
// link Ruby wrote for the outer :agent (the same String as the inner one).
func TestCapturedRequest(t *testing.T) {
	v, err := Unmarshal(capture(t, "0004-directed-request"))
	if err != nil {
		t.Fatal(err)
	}
	outer := mustHash(t, v)
	for k, want := range map[Symbol]Value{"senderid": "mco-client-alice", "requestid": "c9ff806ab19b5e43805a38536c43dc06",
		"collective": "mcollective", "agent": "rpcutil", "callerid": "cert=alice", "ttl": int64(60), "msgtime": int64(1795357850)} {
		if got, _ := outer.Get(k); !reflect.DeepEqual(got, want) {
			t.Errorf(":%s = %#v, want %#v", k, got, want)
		}
	}
	filter := mustHash(t, mustGet(t, outer, Symbol("filter")))
	if a := mustGet(t, filter, "agent"); !reflect.DeepEqual(a, []Value{"rpcutil"}) {
		t.Errorf("filter agent = %#v", a)
	}
	body := mustGet(t, outer, Symbol("body")).([]byte)
	inner, err := Unmarshal(body)
	if err != nil {
		t.Fatal(err)
	}
	msg := mustHash(t, mustGet(t, mustHash(t, inner), Symbol("ssl_msg")))
	if a, _ := msg.Get(Symbol("action")); a != "ping" {
		t.Errorf("action = %#v", a)
	}
	data := mustHash(t, mustGet(t, msg, Symbol("data")))
	if pr, _ := data.Get(Symbol("process_results")); pr != true {
		t.Errorf("process_results = %#v", pr)
	}
}

func mustGet(t *testing.T, h *Hash, k Value) Value {
	t.Helper()
	v, ok := h.Get(k)
	if !ok {
		t.Fatalf("no key %#v", k)
	}
	return v
}

// Marshal writes what Ruby writes: the captured frames that have no
// object links re-encode to the same bytes, outer and inner layers.
func TestEncodeMatchesRuby(t *testing.T) {
	for _, name := range []string{"0001-broadcast-request", "0003-reply", "0005-reply"} {
		t.Run(name, func(t *testing.T) {
			raw := capture(t, name)
			for _, layer := range []string{"outer", "inner"} {
				v, err := Unmarshal(raw)
				if err != nil {
					t.Fatal(err)
				}
				if layer == "outer" {
					h := v.(*Hash)
					for _, k := range []Symbol{"requestid", "hash"} { // Ruby's hex and base64 text is US-ASCII
						s, _ := h.Get(k)
						h.Set(k, ASCII(s.(string)))
					}
				}
				got, err := Marshal(v)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, raw) {
					t.Fatalf("%s layer re-encoded differently:\n got %q\nwant %q", layer, got, raw)
				}
				if layer == "outer" {
					raw = mustGet(t, mustHash(t, v), Symbol("body")).([]byte)
				}
			}
		})
	}
}

func TestRoundTripScalars(t *testing.T) {
	for _, v := range []Value{nil, true, false, int64(0), int64(1), int64(122), int64(123), int64(-123), int64(-124), int64(255),
		int64(256), int64(-256), int64(1<<30 - 1), int64(1 << 30), int64(-(1 << 30)), int64(-(1 << 30) - 1), int64(1795357850),
		int64(math.MaxInt64), int64(math.MinInt64), 1.5, -0.25, math.Inf(1), "héllo", []byte{0, 1, 2}, Symbol("x"),
		[]Value{Symbol("a"), Symbol("a"), "s", "s"}, Sym("a", int64(1), "b", Sym("a", "x"))} {
		b, err := Marshal(v)
		if err != nil {
			t.Fatalf("%#v: %v", v, err)
		}
		got, err := Unmarshal(b)
		if err != nil {
			t.Fatalf("%#v (%q): %v", v, b, err)
		}
		if !reflect.DeepEqual(got, v) {
			t.Errorf("round trip of %#v = %#v", v, got)
		}
	}
}

// Everything through which Ruby's Marshal.load instantiates objects or
// runs code is refused, and so is anything malformed or too big.
func TestRefused(t *testing.T) {
	for name, in := range map[string]string{
		"object":            "\x04\bo:\x0bObject\x00",
		"user marshal":      "\x04\bU:\x0bGem::Requirement[\x00",
		"user defined":      "\x04\bu:\x09Date\x06x",
		"class":             "\x04\bc\x0bObject",
		"module":            "\x04\bm\x0bKernel",
		"extended":          "\x04\be:\x0bKernel\"\x00",
		"struct":            "\x04\bS:\x09Foo\x00",
		"regexp":            "\x04\bI/\x06a\x00\x06:\x06EF",
		"hash with default": "\x04\b}\x00i\x06",
		"ivar on array":     "\x04\bI[\x00\x06:\x06ET",
		"other ivar":        "\x04\bI\"\x06a\x06:\x06@xT",
		"link to hash":      "\x04\b[\x07{\x00@\x06",
		"link to self":      "\x04\b[\x06@\x00",
		"bad symlink":       "\x04\b;\x00",
		"long string":       "\x04\b\"\x7f",
		"huge array":        "\x04\b[\x04\xff\xff\xff\x7f",
		"negative length":   "\x04\b[\xfa",
		"big bignum":        "\x04\bl+\x0a\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a",
		"trailing":          "\x04\b0\x00",
		"version":           "\x04\x090",
		"empty":             "",
		"duplicate key":     "\x04\b{\x07i\x06Ti\x06F",
		"array key":         "\x04\b{\x06[\x000T",
		"deep":              "\x04\b" + strings.Repeat("[\x06", 40) + "0",
	} {
		if v, err := Unmarshal([]byte(in)); err == nil || !errors.Is(err, ErrFormat) {
			t.Errorf("%s: got %#v, %v; want an ErrFormat refusal", name, v, err)
		}
	}
}

func TestItemLimit(t *testing.T) {
	b, _ := Marshal([]Value{int64(1), int64(2), int64(3)})
	if _, err := UnmarshalLimits(b, Limits{MaxItems: 2}); err == nil {
		t.Fatal("3 elements accepted with MaxItems 2")
	}
}

func FuzzUnmarshal(f *testing.F) {
	for _, name := range []string{"0001-broadcast-request", "0003-reply", "0004-directed-request", "0005-reply"} {
		f.Add(capture(f, name))
	}
	f.Add([]byte("\x04\b[\x07l+\x07\x97\xfc\x02kf\x081.5"))
	f.Fuzz(func(t *testing.T, in []byte) {
		v, err := Unmarshal(in)
		if err != nil {
			return
		}
		out, err := Marshal(v)
		if err != nil {
			t.Fatalf("decoded %#v does not encode: %v", v, err)
		}
		v2, err := Unmarshal(out)
		if err != nil {
			t.Fatalf("re-encoded %q does not decode: %v", out, err)
		}
		if !reflect.DeepEqual(normalizeNaN(v), normalizeNaN(v2)) {
			t.Fatalf("round trip changed %#v into %#v", v, v2)
		}
	})
}

// normalizeNaN makes NaNs comparable for DeepEqual.
func normalizeNaN(v Value) Value {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) {
			return "NaN"
		}
	case []Value:
		out := make([]Value, len(x))
		for i := range x {
			out[i] = normalizeNaN(x[i])
		}
		return out
	case *Hash:
		h := &Hash{}
		for i := range x.Keys {
			h.Keys = append(h.Keys, normalizeNaN(x.Keys[i]))
			h.Values = append(h.Values, normalizeNaN(x.Values[i]))
		}
		return h
	}
	return v
}
