package signer

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
)

func TestParseSignBody(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ok   bool
		want signBody
	}{
		{`{"token":"t","request":"cmVx","signature":"ab"}`, true, signBody{"t", "cmVx", "ab", ""}},
		{`{"token":"t","request":"cmVx","approval_id":"0a1b"}`, true, signBody{Token: "t", Request: "cmVx", ApprovalID: "0a1b"}},
		{" {\n\t\"request\" : \"cmVx\" ,\r\n\"token\":\"t\"}\n", true, signBody{Token: "t", Request: "cmVx"}},
		{`{}`, true, signBody{}},
		{`{"token":"a","token":"b"}`, false, signBody{}}, // a key twice: encoding/json's call (the last wins)
		{`{"token":"a"} x`, false, signBody{}},           // trailing data
		{`{"Token":"a"}`, false, signBody{}},             // case-folded key: encoding/json's call
		{`{"other":[1,{"x":null}],"token":"t"}`, true, signBody{Token: "t"}},
		{`{"token":"a\"b\u00e9"}`, true, signBody{Token: "a\"b\u00e9"}},
		{`{"token":"é"}`, true, signBody{Token: "é"}},
		{"{\"token\":\"\xff\"}", false, signBody{}}, // invalid UTF-8: encoding/json replaces it
		{`{"token":"\ud800"}`, false, signBody{}},   // a lone surrogate, likewise
		{`{"token":1}`, false, signBody{}},
		{`{"token":null}`, false, signBody{}},
		{`{"token":"a",}`, false, signBody{}},
		{`{"token":"a"`, false, signBody{}},
		{`[]`, false, signBody{}},
		{``, false, signBody{}},
	} {
		var got signBody
		ok := parseSignBody([]byte(tc.in), &got)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("parseSignBody(%q) = %v %+v, want %v %+v", tc.in, ok, got, tc.ok, tc.want)
		}
		var slow signBody
		if ok && (json.Unmarshal([]byte(tc.in), &slow) != nil || slow != got) {
			t.Errorf("parseSignBody(%q) = %+v, encoding/json gives %+v", tc.in, got, slow)
		}
	}
}

// FuzzParseSignBody holds the fast decoder to encoding/json: whatever it
// accepts, json.Unmarshal accepts with the same result.
func FuzzParseSignBody(f *testing.F) {
	for _, s := range []string{`{"token":"t","request":"cmVx","signature":"ab"}`, ` { "token" : "" } `,
		`{"token":"a","token":"b"}`, `{"TOKEN":"a"}`, `{"token":"a"}}`, `{"token":"\u0041"}`, `{"request":1}`,
		`{"token":"\ud83d\ude00","x":{"y":[true,null,-1.5e3]}}`, `{"ſignature":"a"}`, "{\"token\":\"\xc3\"}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var fast signBody
		if !parseSignBody(data, &fast) {
			return
		}
		var slow signBody
		if err := json.Unmarshal(data, &slow); err != nil {
			t.Fatalf("fast path accepted %q, encoding/json refuses it: %v", data, err)
		}
		if fast != slow {
			t.Fatalf("%q: fast %+v, encoding/json %+v", data, fast, slow)
		}
	})
}

func TestReadAllInto(t *testing.T) {
	want := bytes.Repeat([]byte("0123456789"), 1000)
	for _, hint := range []int64{-1, 0, 10, int64(len(want)), maxBody + 1} {
		got, err := readAllInto(make([]byte, 0, 16), iotest.OneByteReader(bytes.NewReader(want)), hint)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("hint %d: %d bytes, %v", hint, len(got), err)
		}
	}
	if _, err := readAllInto(nil, iotest.ErrReader(context.Canceled), 0); err != context.Canceled {
		t.Fatalf("reader error lost: %v", err)
	}
}

// The one-piece answer is byte for byte what json.Encoder wrote before.
func TestWriteSecureAnswer(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 1000, 70000} {
		secure := bytes.Repeat([]byte{0xfb}, n)
		rec := httptest.NewRecorder()
		writeSecureAnswer(rec, secure)
		var want bytes.Buffer
		_ = json.NewEncoder(&want).Encode(map[string]string{"secure_request": base64.StdEncoding.EncodeToString(secure)})
		if rec.Code != http.StatusOK || rec.Body.String() != want.String() {
			t.Fatalf("%d bytes: %d %q, want %q", n, rec.Code, rec.Body.String(), want.String())
		}
		if cl := rec.Header().Get("Content-Length"); cl != itoa(want.Len()) {
			t.Fatalf("Content-Length %s, want %d", cl, want.Len())
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// The Ruby client's MIME line breaks are skipped by the decoder itself.
func TestDecodeRequestB64LineBreaks(t *testing.T) {
	want := bytes.Repeat([]byte(`{"protocol":"choria:request:1"}`), 5)
	enc := base64.StdEncoding.EncodeToString(want)
	var broken strings.Builder
	for i := 0; i < len(enc); i += 60 {
		broken.WriteString(enc[i:min(i+60, len(enc))])
		broken.WriteString("\r\n")
	}
	got, err := decodeRequestB64(broken.String())
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("decode with line breaks: %q, %v", got, err)
	}
	if _, err := decodeRequestB64(enc[:10] + " " + enc[10:]); err == nil {
		t.Fatal("a space inside base64 was accepted")
	}
}

// BenchmarkParseSignBody decodes a sign body of the usual size (a JWT,
// a 1 KB request in base64, a proof-of-possession signature) with the
// fast path and with encoding/json.
func BenchmarkParseSignBody(b *testing.B) {
	body, _ := json.Marshal(signBody{
		Token:     strings.Repeat("eyJhbGciOiJFZERTQSJ9.", 30),
		Request:   base64.StdEncoding.EncodeToString(bytes.Repeat([]byte(`{"protocol":"choria:request:1"}`), 32)),
		Signature: strings.Repeat("ab", 64),
	})
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var out signBody
			if !parseSignBody(body, &out) {
				b.Fatal("fast path declined")
			}
		}
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var out signBody
			if err := json.Unmarshal(body, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
}
