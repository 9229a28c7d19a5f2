package protocol

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

func readJSONString(t *testing.T, file, field string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m[field].(string)
}

// The observed request of docs/protocol.md §2-§4 decodes layer by layer, and
// the signed bytes are exactly the golden vector of §6.2.
func TestGoldenRequest(t *testing.T) {
	raw, err := os.ReadFile("testdata/example_transport_request.json")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := DecodeTransport(raw, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Data) != 2130 {
		t.Fatalf("secure request is %d bytes, want 2130", len(tr.Data))
	}
	if tr.ReplyTo != "mcollective.reply.1bdb3802b9cdc344e84c6718136cb62a.839a99254f3c4a07a050ce6897cef158" || tr.Sender != "anchor.mcollective" {
		t.Fatalf("headers: %+v", tr)
	}
	if len(tr.SeenBy) != 1 || tr.SeenBy[0][1] != "anchor.mcollective" {
		t.Fatalf("seen-by: %v", tr.SeenBy)
	}
	sr, err := DecodeSecureRequest(tr.Data)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(sr.Message)
	if got := hex.EncodeToString(sum[:]); got != "9db87c3d9a6382c857ec886e9cea589ba390ec68687a4c24ca03d3ac3a5d381b" {
		t.Fatalf("sha256(R) = %s", got)
	}
	if len(sr.Message) != 385 || len(sr.Signature) != 256 || !strings.HasPrefix(string(sr.PubCert), "-----BEGIN CERTIFICATE-----") {
		t.Fatalf("secure request fields: msg %d sig %d", len(sr.Message), len(sr.Signature))
	}
	req, err := DecodeRequest(sr.Message)
	if err != nil {
		t.Fatal(err)
	}
	want := Request{ID: "839a99254f3c4a07a050ce6897cef158", SenderID: "anchor.mcollective",
		CallerID: "choria=anchor.mcollective", Collective: "mcollective", Agent: "rpcutil", TTL: 60, Time: 1795357924,
		Message: `{"agent":"rpcutil","action":"ping","data":{}}`}
	got := *req
	got.Filter = Filter{}
	if got.ID != want.ID || got.SenderID != want.SenderID || got.CallerID != want.CallerID || got.Collective != want.Collective ||
		got.Agent != want.Agent || got.TTL != want.TTL || got.Time != want.Time || got.Message != want.Message {
		t.Fatalf("request:\n got %+v\nwant %+v", got, want)
	}
	if len(req.Filter.Agent) != 1 || req.Filter.Agent[0] != "rpcutil" {
		t.Fatalf("filter %+v", req.Filter)
	}
	// our encoder reproduces the signed bytes exactly
	enc, err := EncodeRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	if string(enc) != string(sr.Message) {
		t.Fatalf("re-encoded request differs:\n%s\n%s", enc, sr.Message)
	}
	// and the secure request too (modulo Go's \u003c-style escaping, none here)
	encS, err := EncodeSecureRequest(sr)
	if err != nil {
		t.Fatal(err)
	}
	if string(encS) != string(tr.Data) {
		t.Fatalf("re-encoded secure request differs")
	}
	rpc, err := DecodeRPCRequest(req.PayloadBytes())
	if err != nil || rpc.Action != "ping" || string(rpc.Data) != "{}" {
		t.Fatalf("payload %+v %v", rpc, err)
	}
}

func TestGoldenReply(t *testing.T) {
	raw, err := os.ReadFile("testdata/example_transport_reply.json")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := DecodeTransport(raw, 0)
	if err != nil {
		t.Fatal(err)
	}
	sr, err := DecodeSecureReply(tr.Data)
	if err != nil {
		t.Fatal(err)
	}
	if got := b64.EncodeToString(sr.Hash); got != "OH0QdJwLt8QoHvmwEld5b7KNTh4iN0Dk7QcFWfsBY04=" || len(sr.Message) != 262 {
		t.Fatalf("hash %s len %d", got, len(sr.Message))
	}
	rep, err := DecodeReply(sr.Message)
	if err != nil {
		t.Fatal(err)
	}
	if rep.SenderID != "node001.choria.local" || rep.Agent != "rpcutil" || rep.RequestID != "839a99254f3c4a07a050ce6897cef158" {
		t.Fatalf("reply %+v", rep)
	}
	enc, err := EncodeReply(rep)
	if err != nil || string(enc) != string(sr.Message) {
		t.Fatalf("re-encoded reply differs: %s %v", enc, err)
	}
	encS, err := EncodeSecureReply(&SecureReply{Message: enc})
	if err != nil || string(encS) != string(tr.Data) {
		t.Fatalf("re-encoded secure reply differs: %s", encS)
	}
	body, err := DecodeRPCReply([]byte(rep.Message))
	if err != nil || body.StatusCode != OK || string(body.Data) != `{"pong":1795357924}` {
		t.Fatalf("body %+v %v", body, err)
	}
	encBody, _ := EncodeRPCReply(body)
	if string(encBody) != rep.Message {
		t.Fatalf("re-encoded body %s", encBody)
	}
}

// Every message captured from the Choria lab decodes.
func TestWireCaptures(t *testing.T) {
	f, err := os.Open("testdata/wire.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		var line struct {
			Data    string `json:"data"`
			Subject string `json:"subject"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		tr, err := DecodeTransport([]byte(line.Data), 0)
		if err != nil {
			t.Fatalf("%s: %v", line.Subject, err)
		}
		if strings.Contains(line.Subject, ".reply.") {
			sr, err := DecodeSecureReply(tr.Data)
			if err != nil {
				t.Fatalf("%s: %v", line.Subject, err)
			}
			if _, err := DecodeReply(sr.Message); err != nil {
				t.Fatal(err)
			}
		} else {
			sr, err := DecodeSecureRequest(tr.Data)
			if err != nil {
				t.Fatal(err)
			}
			req, err := DecodeRequest(sr.Message)
			if err != nil {
				t.Fatal(err)
			}
			if req.Agent == "discovery" && string(req.PayloadBytes()) != "ping" {
				t.Fatalf("discovery payload %q", req.PayloadBytes())
			}
		}
		n++
	}
	if n != 13 {
		t.Fatalf("decoded %d captures, want 13", n)
	}
}

func TestRoundTrip(t *testing.T) {
	req := &Request{ID: NewRequestID(), SenderID: "c<&>", CallerID: "choria=x.mcollective", Collective: "mcollective",
		Agent: "rpcutil", TTL: 60, Time: 1795357924, Message: "{\"agent\":\"rpcutil\",\"action\":\"ping\",\"data\":{\"a\":\"\\u0001\\n\"}}",
		Filter: Filter{Fact: []FactFilter{{Fact: "role", Operator: "==", Value: "web"}}, Compound: [][]CompoundEntry{{{Expr: "with('x')"}}}}}
	b, err := EncodeRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(b) {
		t.Fatalf("invalid JSON %s", b)
	}
	back, err := DecodeRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	if back.Message != req.Message || back.SenderID != req.SenderID || back.Filter.Compound[0][0].Expr != "with('x')" {
		t.Fatalf("round trip: %+v", back)
	}
	if _, err := EncodeRequest(&Request{Message: "\xff"}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("invalid UTF-8 must be refused, got %v", err)
	}
	tr, err := EncodeTransport(&Transport{Data: []byte("x"), ReplyTo: "a.b", Sender: "me", SeenBy: [][3]string{{"", "me", ""}}})
	if err != nil {
		t.Fatal(err)
	}
	if string(tr) != `{"protocol":"choria:transport:1","data":"eA==","headers":{"reply-to":"a.b","mc_sender":"me","seen-by":[["","me",""]]}}` {
		t.Fatalf("transport %s", tr)
	}
	ins, _ := EncodeSecureRequest(&SecureRequest{Message: b, Insecure: true})
	s, err := DecodeSecureRequest(ins)
	if err != nil || !s.Insecure {
		t.Fatalf("insecure round trip %v", err)
	}
	id := NewRequestID()
	if len(id) != 32 || strings.ToLower(id) != id || id[12] != '4' {
		t.Fatalf("request id %s", id)
	}
}

func TestRefusals(t *testing.T) {
	good := `{"protocol":"choria:request:1","message":"x","envelope":{"requestid":"839a99254f3c4a07a050ce6897cef158","senderid":"s","callerid":"choria=a","collective":"mcollective","agent":"rpcutil","ttl":60,"time":1,"filter":{"fact":[],"cf_class":[],"agent":[],"identity":[],"compound":[]}}}`
	if _, err := DecodeRequest([]byte(good)); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		fn   func() error
		kind *Error
	}{
		{"transport not json", func() error { _, err := DecodeTransport([]byte("{"), 0); return err }, ErrMalformed},
		{"transport protocol", func() error {
			_, err := DecodeTransport([]byte(`{"protocol":"choria:transport:9","data":"eA==","headers":{}}`), 0)
			return err
		}, ErrUnknownProtocol},
		{"transport base64", func() error {
			_, err := DecodeTransport([]byte(`{"protocol":"choria:transport:1","data":"!!","headers":{}}`), 0)
			return err
		}, ErrMalformed},
		{"transport too large", func() error {
			_, err := DecodeTransport([]byte(`{"protocol":"choria:transport:1","data":"eA==","headers":{}}`), 10)
			return err
		}, ErrTooLarge},
		{"secure missing signature", func() error {
			_, err := DecodeSecureRequest([]byte(`{"protocol":"choria:secure:request:1","message":"x","pubcert":"y"}`))
			return err
		}, ErrMalformed},
		{"secure signature base64", func() error {
			_, err := DecodeSecureRequest([]byte(`{"protocol":"choria:secure:request:1","message":"x","signature":"%%","pubcert":"y"}`))
			return err
		}, ErrMalformed},
		{"request short id", func() error {
			_, err := DecodeRequest([]byte(strings.Replace(good, "839a99254f3c4a07a050ce6897cef158", "abc", 1)))
			return err
		}, ErrMalformed},
		{"request ttl too small", func() error {
			_, err := DecodeRequest([]byte(strings.Replace(good, `"ttl":60`, `"ttl":10`, 1)))
			return err
		}, ErrTTL},
		{"request missing filter key", func() error {
			_, err := DecodeRequest([]byte(strings.Replace(good, `"fact":[],`, ``, 1)))
			return err
		}, ErrMalformed},
		{"request bad operator", func() error {
			_, err := DecodeRequest([]byte(strings.Replace(good, `"fact":[]`, `"fact":[{"fact":"a","operator":"~~","value":"b"}]`, 1)))
			return err
		}, ErrMalformed},
		{"request protocol", func() error {
			_, err := DecodeRequest([]byte(strings.Replace(good, "choria:request:1", "choria:request:2", 1)))
			return err
		}, ErrUnknownProtocol},
		{"reply hash", func() error {
			_, err := DecodeSecureReply([]byte(`{"protocol":"choria:secure:reply:1","message":"x","hash":"eA=="}`))
			return err
		}, ErrSignature},
		{"rpc payload", func() error { _, err := DecodeRPCRequest([]byte(`{"agent":"a"}`)); return err }, ErrMalformed},
		{"rpc data not object", func() error {
			_, err := DecodeRPCRequest([]byte(`{"agent":"a","action":"b","data":[1]}`))
			return err
		}, ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.fn()
			if !errors.Is(err, c.kind) {
				t.Fatalf("got %v, want kind %s", err, c.kind.Kind)
			}
			var pe *Error
			if !errors.As(err, &pe) || pe.Reason == "" {
				t.Fatalf("error has no reason: %v", err)
			}
		})
	}
}

func TestPayloadDecodingRule(t *testing.T) {
	r := &Request{Message: DiscoveryPayload}
	if string(r.PayloadBytes()) != "ping" {
		t.Fatal("discovery payload")
	}
	r.Message = "ping" // valid base64 of junk: must not become "ping"
	if string(r.PayloadBytes()) == "ping" {
		t.Fatal("raw ping must decode to junk")
	}
	r.Message = `{"agent":"a"}`
	if string(r.PayloadBytes()) != r.Message {
		t.Fatal("raw JSON passes through")
	}
}

func fuzzSeeds(f *testing.F) {
	for _, name := range []string{"example_transport_request.json", "example_transport_reply.json", "example_secure_request.json",
		"example_secure_reply.json", "example_request.json", "example_reply.json"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"protocol":"choria:transport:1","data":"","headers":null}`))
}

func FuzzDecode(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(err error) {
			if err != nil && KindOf(err) == "" {
				t.Fatalf("error without kind: %v", err)
			}
		}
		if tr, err := DecodeTransport(data, 0); err == nil {
			if _, err := EncodeTransport(tr); err != nil && KindOf(err) == "" {
				t.Fatal(err)
			}
		} else {
			check(err)
		}
		if s, err := DecodeSecureRequest(data); err == nil {
			if !s.Insecure {
				if _, err := EncodeSecureRequest(s); err != nil {
					check(err)
				}
			}
		} else {
			check(err)
		}
		if r, err := DecodeRequest(data); err == nil {
			// a decoded request re-encodes and decodes to the same envelope
			enc, err := EncodeRequest(r)
			if err != nil {
				check(err)
				return
			}
			back, err := DecodeRequest(enc)
			if err != nil {
				t.Fatalf("re-encoded request does not decode: %v\n%s", err, enc)
			}
			if back.ID != r.ID || back.CallerID != r.CallerID || back.Message != r.Message || back.TTL != r.TTL {
				t.Fatalf("round trip changed the request")
			}
		} else {
			check(err)
		}
		_, err := DecodeSecureReply(data)
		check(err)
		_, err = DecodeReply(data)
		check(err)
		_, err = DecodeRPCRequest(data)
		check(err)
	})
}

// RawFilter is the filter exactly as signed, on both decoding paths: a
// record that shows it shows what the caller signed.
func TestRequestRawFilter(t *testing.T) {
	data := []byte(`{"protocol":"choria:request:1","message":"e30=","envelope":{"requestid":"839a99254f3c4a07a050ce6897cef158",` +
		`"senderid":"c","callerid":"choria=rip.mcollective","collective":"mcollective","agent":"rpcutil","ttl":60,"time":1,` +
		`"filter": {"fact":[],"cf_class":[],"agent":["rpcutil"],"identity":["n1"],"compound":[]}}}`)
	want := `{"fact":[],"cf_class":[],"agent":["rpcutil"],"identity":["n1"],"compound":[]}`
	for _, fast := range []bool{true, false} {
		r, err := decodeRequest(data, fast)
		if err != nil {
			t.Fatalf("fast=%v: %v", fast, err)
		}
		if string(r.RawFilter) != want {
			t.Errorf("fast=%v: RawFilter %q, want %q", fast, r.RawFilter, want)
		}
	}
}
