package protocol

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// stdlibString is encoding/json's encoding of s with HTML escaping off:
// the reference AppendString and AppendLossyString follow.
func stdlibString(t testing.TB, s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func TestAppendString(t *testing.T) {
	tests := []struct {
		name, in, want string
		valid          bool
	}{
		{"empty", "", `""`, true},
		{"plain", "up=bob", `"up=bob"`, true},
		{"quote and backslash", `a"b\c`, `"a\"b\\c"`, true},
		{"named controls", "x\ny\r\tz\b\f", `"x\ny\r\tz\b\f"`, true},
		{"other controls", "\x00\x1f\x7f", `"\u0000\u001f` + "\x7f" + `"`, true},
		{"no HTML escaping", "<a&b>", `"<a&b>"`, true},
		{"line separators", "a\u2028b\u2029", `"a\u2028b\u2029"`, true},
		{"multibyte", "ünïcødé ✓ \U0001F600 \uFFFD", "\"ünïcødé ✓ \U0001F600 \uFFFD\"", true},
		{"invalid byte", "a\xffb", `"a\ufffdb"`, false},
		{"truncated rune at the end", "ok\xc3", `"ok\ufffd"`, false},
		{"surrogate half", "\xed\xa0\x80", `"\ufffd\ufffd\ufffd"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			if got := string(AppendLossyString([]byte("kept:"), tt.in)); got != "kept:"+want {
				t.Fatalf("AppendLossyString = %s, want kept:%s", got, want)
			}
			if std := stdlibString(t, tt.in); std != want {
				t.Fatalf("encoding/json writes %s, the case wants %s", std, want)
			}
			got, ok := AppendString([]byte("kept:"), tt.in)
			gotB, okB := AppendString([]byte("kept:"), []byte(tt.in))
			if ok != tt.valid || okB != tt.valid || !bytes.Equal(got, gotB) {
				t.Fatalf("AppendString: %s %v, []byte: %s %v; want ok=%v", got, ok, gotB, okB, tt.valid)
			}
			if !tt.valid && string(got) != "kept:" {
				t.Fatalf("refused string left %q in the buffer", got)
			}
			if tt.valid && string(got) != "kept:"+want {
				t.Fatalf("AppendString = %s, want kept:%s", got, want)
			}
		})
	}
}

// FuzzAppendString: AppendLossyString writes what encoding/json writes,
// AppendString the same for valid UTF-8 and refuses the rest, for strings
// and byte slices alike.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "up=bob", "a\"\\\n\x00", "\u2028\xff\xc3", "ü\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := stdlibString(t, s)
		if got := string(AppendLossyString(nil, s)); got != want {
			t.Fatalf("AppendLossyString(%q) = %s, encoding/json %s", s, got, want)
		}
		got, ok := AppendString(nil, s)
		gotB, okB := AppendString(nil, []byte(s))
		if ok != utf8.ValidString(s) || okB != ok || !bytes.Equal(got, gotB) {
			t.Fatalf("AppendString(%q) = %s %v, []byte: %s %v", s, got, ok, gotB, okB)
		}
		if ok && string(got) != want {
			t.Fatalf("AppendString(%q) = %s, encoding/json %s", s, got, want)
		}
	})
}

// BenchmarkAppendString: the encoders' inputs, a request id, a signed
// request message (many quotes) and non-ASCII text.
func BenchmarkAppendString(b *testing.B) {
	req := &Request{ID: "694373eb775142e9ad9865d67c5e8e2d", SenderID: "laptop.example.net", CallerID: "up=bob",
		Collective: "mcollective", Agent: "rpcutil", TTL: 60, Time: 1795357885,
		Message: `{"action":"get_config_item","data":{"item":"loglevel","process_results":true}}`}
	msg, err := EncodeRequest(req)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 4096)
	b.Run("id", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = AppendString(buf[:0], req.ID)
		}
	})
	b.Run("message", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = AppendString(buf[:0], msg)
		}
	})
	text := []byte(strings.Repeat("ünïcødé ✓ ", 20))
	b.Run("non-ASCII", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = AppendString(buf[:0], text)
		}
	})
}
