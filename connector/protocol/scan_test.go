package protocol

import (
	"bufio"
	"encoding/json"
	"os"
	"reflect"
	"testing"
)

// sameResult fails when the fast decoder and the encoding/json reference
// disagree on the value or on the refusal (kind and full message).
func sameResult[T any](t *testing.T, layer string, data []byte, got T, gerr error, want T, werr error) {
	t.Helper()
	if (gerr == nil) != (werr == nil) || (gerr != nil && (gerr.Error() != werr.Error() || KindOf(gerr) != KindOf(werr))) {
		t.Fatalf("%s: fast error %v, encoding/json error %v\ninput %q", layer, gerr, werr, data)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: fast decoder gives\n%#v\nencoding/json gives\n%#v\ninput %q", layer, got, want, data)
	}
}

// checkSame runs every layer's decoder on data twice, with the scanner
// and with encoding/json only.
func checkSame(t *testing.T, data []byte) {
	t.Helper()
	tr, err := decodeTransport(data, 0, true)
	tr2, err2 := decodeTransport(data, 0, false)
	sameResult(t, "transport", data, tr, err, tr2, err2)
	sr, err := decodeSecureRequest(data, true)
	sr2, err2 := decodeSecureRequest(data, false)
	sameResult(t, "secure request", data, sr, err, sr2, err2)
	rq, err := decodeRequest(data, true)
	rq2, err2 := decodeRequest(data, false)
	sameResult(t, "request", data, rq, err, rq2, err2)
	sp, err := decodeSecureReply(data, true)
	sp2, err2 := decodeSecureReply(data, false)
	sameResult(t, "secure reply", data, sp, err, sp2, err2)
	rp, err := decodeReply(data, true)
	rp2, err2 := decodeReply(data, false)
	sameResult(t, "reply", data, rp, err, rp2, err2)
	rr, err := decodeRPCRequest(data, true)
	rr2, err2 := decodeRPCRequest(data, false)
	sameResult(t, "rpc request", data, rr, err, rr2, err2)
	rb, err := decodeRPCReply(data, true)
	rb2, err2 := decodeRPCReply(data, false)
	sameResult(t, "rpc reply", data, rb, err, rb2, err2)
	// the oracle for duplicate keys: whatever a decoder accepted has no
	// key twice in any object, by encoding/json's tokenizer
	if tr != nil || sr != nil || rq != nil || sp != nil || rp != nil || rr != nil || rb != nil {
		if err := duplicateKey("document", data); err != nil {
			t.Fatalf("accepted a document with a duplicate key: %v\n%q", err, data)
		}
	}
}

// innerLayers returns the nested documents of a transport message.
func innerLayers(tb testing.TB, transport []byte) [][]byte {
	tb.Helper()
	out := [][]byte{transport}
	tr, err := DecodeTransport(transport, 0)
	if err != nil {
		tb.Fatal(err)
	}
	out = append(out, tr.Data)
	if sr, err := DecodeSecureRequest(tr.Data); err == nil {
		out = append(out, sr.Message)
		if r, err := DecodeRequest(sr.Message); err == nil {
			out = append(out, r.PayloadBytes())
		}
	}
	if sr, err := DecodeSecureReply(tr.Data); err == nil {
		out = append(out, sr.Message)
		if r, err := DecodeReply(sr.Message); err == nil {
			out = append(out, []byte(r.Message))
		}
	}
	return out
}

func wireCaptures(tb testing.TB) [][]byte {
	tb.Helper()
	f, err := os.Open("testdata/wire.jsonl")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var out [][]byte
	for sc.Scan() {
		var line struct {
			Data string `json:"data"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			tb.Fatal(err)
		}
		out = append(out, innerLayers(tb, []byte(line.Data))...)
	}
	return out
}

// The scanner must accept the real messages (or the speed-up is gone),
// and decode them exactly as encoding/json does.
func TestFastPathTakenOnCaptures(t *testing.T) {
	docs := wireCaptures(t)
	for _, name := range []string{"example_transport_request.json", "example_transport_reply.json"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, innerLayers(t, b)...)
	}
	taken, plain := 0, 0
	for _, d := range docs {
		checkSame(t, d)
		var (
			td transportDoc
			sq secureRequestDoc
			rq requestDoc
			sp secureReplyDoc
			rp replyDoc
			rr RPCRequest
			rb RPCReply
		)
		if td.scan(d) || sq.scan(d) || rq.scan(d) || sp.scan(d) || rp.scan(d) || rr.scan(d) || rb.scan(d) {
			taken++
		} else if string(d) == "ping" || string(d) == "pong" {
			plain++ // discovery payloads are not JSON
		} else {
			t.Errorf("no fast decoder accepts %q", d)
		}
	}
	if taken+plain != len(docs) || taken < 50 {
		t.Fatalf("fast path taken for %d of %d documents", taken, len(docs))
	}
}

// quirks are inputs where encoding/json's quirks matter; each must
// decode exactly as encoding/json decodes it.
func quirks() []string {
	id := `"0123456789abcdef0123456789abcdef"`
	env := `"requestid":` + id + `,"callerid":"choria=a","collective":"c","agent":"a","ttl":60,"time":1,`
	filter := `"filter":{"fact":[],"cf_class":[],"identity":[],"compound":[]}`
	return []string{
		`{"protocol":"choria:request:1","message":"m","envelope":{` + env + filter + `}}`,
		`{"protocol":"choria:request:1","message":"m","envelope":{` + env + filter + `,"x":[1,{"y":null}]}}`,
		`{"Protocol":"choria:request:1","message":"m","envelope":{` + env + filter + `}}`,
		`{"protocol":"choria:request:1","protocol":"choria:request:1","message":"m","envelope":{` + env + filter + `}}`,
		`{"protocol":"choria:request:1","message":"m","envelope":{` + env + `"filter":{"fact":[],"cf_class":[],"identity":[]}}}`,
		`{"protocol":"choria:request:1","message":"m","envelope":{` + env + `"filter":{"fact":[{"fact":"a","operator":"==","value":"b","x":1}],"cf_class":[],"identity":[],"compound":[[{"expr":"a"}]]}}}`,
		`{"protocol":"choria:request:1","message":"m","envelope":{` + env + `"ttl":6e1,` + filter + `}}`,
		`{"protocol":"choria:request:1","message":"m","envelope":{"requestid":` + id + `,"callerid":"choria=a","collective":"c","agent":"a","ttl":99999999999999999999,"time":1,` + filter + `}}`,
		`{"protocol":"choria:request:1","message":"\ud83d\ude00 \u00e9\u0000","envelope":{` + env + filter + `}}`,
		`{"protocol":"choria:request:1","message":"\ud83d","envelope":{` + env + filter + `}}`,
		"{\"protocol\":\"choria:request:1\",\"message\":\"\xff\",\"envelope\":{" + env + filter + "}}",
		`{"protocol":"choria:request:1","message":"m","envelope":{` + env + filter + `}} x`,
		`{"protocol":"choria:request:1","message":null,"envelope":{` + env + filter + `}}`,
		`{"agent":"a","action":"b","data":null}`,
		`{"agent":"a","action":"b","data":  {"x" : [1, 2.5e-3, true, false, null, "\u0041"]} }`,
		`{"agent":"a","action":"b","data":"s"}`,
		`{"agent":"a","action":"b","data":01}`,
		`{"agent":"a","action":"b","ſata":{}}`,
		`{"action":"ping","statuscode":-0,"statusmsg":"OK","data":{}}`,
		`{"action":"ping","statuscode":9223372036854775808,"statusmsg":"OK"}`,
		`{"protocol":"choria:transport:1","data":"e30=","headers":{"seen-by":[["a","b","c"],["d"]]}}`,
		`{"protocol":"choria:transport:1","data":"e30\/","headers":{"federation":{"a":1}}}`,
		`{"protocol":"choria:transport:1","data":"e30=","headers":{"federation":null}}`,
		`[]`, ``, `{}`, `{"protocol":"choria:transport:1"`,
		`{"agent":"a","action":"b","data":{"x":1,"X":2}}`,
		`{"agent":"a","action":"b","data":{"x":[{"y":1}],"z":{"y":1,"y":1}}}`,
		`{"protocol":"choria:transport:1","data":"e30=","headers":{"reply-to":"a","Reply-To":"b"}}`,
		`{"protocol":"choria:request:1","message":"m","envelope":{` + env + `"callerid":"choria=b",` + filter + `}}`,
		`{"protocol":"choria:request:1","message":"m","envelope":{` + env + `"filter":{"fact":[],"cf_class":[],"identity":[],"compound":[],"new":[]}}}`,
	}
}

func TestFastDecodeQuirks(t *testing.T) {
	for _, in := range quirks() {
		checkSame(t, []byte(in))
	}
}

// FuzzFastDecode checks that the scanner never decodes a document
// differently from encoding/json, and never refuses one differently.
func FuzzFastDecode(f *testing.F) {
	fuzzSeeds(f)
	for _, d := range wireCaptures(f)[:12] {
		f.Add(d)
	}
	for _, q := range quirks() {
		f.Add([]byte(q))
	}
	f.Add([]byte(`{"agent":"rpcutil","action":"ping","data":{"process_results":false}}`))
	f.Add([]byte(`{"agent":"rpcutil","action":"ping","data":{},"approval":{"id":"0a1b","requester":"up=bob","approver":"up=alice"}}`))
	f.Add([]byte(`{"agent":"rpcutil","action":"ping","approval":null}`))
	f.Add([]byte(`{"action":"ping","statuscode":0,"statusmsg":"OK","data":{"pong":1795357924}}`))
	f.Fuzz(func(t *testing.T, data []byte) { checkSame(t, data) })
}

// BenchmarkDecodeLayers decodes every layer of the golden request and
// reply, with the scanner (fast) and with encoding/json only (json).
func BenchmarkDecodeLayers(b *testing.B) {
	req, err := os.ReadFile("testdata/example_transport_request.json")
	if err != nil {
		b.Fatal(err)
	}
	rep, err := os.ReadFile("testdata/example_transport_reply.json")
	if err != nil {
		b.Fatal(err)
	}
	for _, fast := range []bool{true, false} {
		name := map[bool]string{true: "fast", false: "json"}[fast]
		b.Run("request/"+name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tr, err := decodeTransport(req, 0, fast)
				if err != nil {
					b.Fatal(err)
				}
				sr, err := decodeSecureRequest(tr.Data, fast)
				if err != nil {
					b.Fatal(err)
				}
				r, err := decodeRequest(sr.Message, fast)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := decodeRPCRequest(r.PayloadBytes(), fast); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("reply/"+name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tr, err := decodeTransport(rep, 0, fast)
				if err != nil {
					b.Fatal(err)
				}
				sr, err := decodeSecureReply(tr.Data, fast)
				if err != nil {
					b.Fatal(err)
				}
				r, err := decodeReply(sr.Message, fast)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := decodeRPCReply([]byte(r.Message), fast); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The table decides: members read, others skipped, a missing Required
// member or a key twice (in any case) declines, unknown keys are
// reported, and the required mask follows the rows.
func TestScannerFields(t *testing.T) {
	type doc struct {
		a, b    string
		unknown []string
	}
	decode := func(in string) (doc, bool) {
		var d doc
		s := NewScanner([]byte(in))
		ok := s.fields(func(k []byte) { d.unknown = append(d.unknown, string(k)) }, []Field{
			{Key: "a", Decode: func() (ok bool) { d.a, ok = s.String(); return ok }},
			{Key: "b", Required: true, Decode: func() (ok bool) { d.b, ok = s.String(); return ok }},
		}) && s.End()
		return d, ok
	}
	for _, tc := range []struct {
		in   string
		ok   bool
		want doc
	}{
		{`{"a":"x","b":"y"}`, true, doc{a: "x", b: "y"}},
		{` {"b":"y"} `, true, doc{b: "y"}},
		{`{"c":{"d":[1]},"b":"y","e":null}`, true, doc{b: "y", unknown: []string{"c", "e"}}},
		{`{"a":"x"}`, false, doc{}},              // b is required
		{`{}`, false, doc{}},                     // likewise
		{`{"b":"y","b":"y"}`, false, doc{}},      // twice
		{`{"b":"y","B":"y"}`, false, doc{}},      // twice, in another case
		{`{"b":"y","A":"x"}`, false, doc{}},      // a field only case-insensitively: encoding/json's call
		{`{"b":"y","a":1}`, false, doc{}},        // Decode refuses
		{`{"b":"y"} {}`, false, doc{}},           // trailing data
		{`{"b":"y","ſ":1}`, false, doc{}},        // a non-ASCII key folds in ways left to encoding/json
		{`{"b":"y","a":"\ud800"}`, false, doc{}}, // String refuses a lone surrogate
	} {
		got, ok := decode(tc.in)
		if ok != tc.ok || (ok && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("%s: %v %+v, want %v %+v", tc.in, ok, got, tc.ok, tc.want)
		}
	}
	fields := make([]Field, 33)
	for i := range fields {
		fields[i] = Field{Key: string(rune('A' + i)), Decode: func() bool { return true }}
	}
	if NewScanner([]byte(`{}`)).Fields(fields...) {
		t.Error("a table of 33 fields was accepted: the mask has 32 bits")
	}
}

// plainText reads eight bytes at a time; it must agree with the plain
// loop for every byte value at every position, next to any other.
func TestPlainText(t *testing.T) {
	naive := func(b []byte) (plain, ascii bool) {
		ascii = true
		for _, c := range b {
			if c < 0x20 {
				return false, false
			}
			if c >= 0x80 {
				ascii = false
			}
		}
		return true, ascii
	}
	buf := make([]byte, 19)
	for _, fill := range []byte{' ', 'a', 0x7f, 0x80, 0xff, 0x21, 0x1f} {
		for pos := range buf {
			for v := range 256 {
				for i := range buf {
					buf[i] = fill
				}
				buf[pos] = byte(v)
				for _, b := range [][]byte{buf, buf[:pos+1], buf[pos:]} {
					p, a := plainText(b)
					if wp, wa := naive(b); p != wp || a != wa {
						t.Fatalf("plainText(%q) = %v %v, want %v %v", b, p, a, wp, wa)
					}
				}
			}
		}
	}
}
