package protocol

import (
	"encoding/base64"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// strictRequest is a request layer with hooks for the strict-input tests.
func strictRequest(id, envExtra, filterExtra string) string {
	return `{"protocol":"choria:request:1","message":"m","envelope":{"requestid":"` + id +
		`","senderid":"s","callerid":"choria=alice.mcollective","collective":"c","agent":"a","ttl":60,"time":1,` + envExtra +
		`"filter":{"fact":[],"cf_class":[],"identity":[],"compound":[]` + filterExtra + `}}}`
}

func TestRequestIDMustBeLowerHex(t *testing.T) {
	for _, c := range []struct {
		id string
		ok bool
	}{
		{"0123456789abcdef0123456789abcdef", true},
		{strings.Repeat("z", 32), false},
		{"0123456789ABCDEF0123456789ABCDEF", false},
		{"../../../../tmp/x", false},
		{"../../../../tmp/x" + strings.Repeat("a", 15), false},
		{"0123456789abcdef0123456789abcde", false},
		{"0123456789abcdef0123456789abcdef0", false},
		{"0123456789abcdef-123456789abcdef", false},
		{"", false},
	} {
		for _, fast := range []bool{true, false} {
			_, err := decodeRequest([]byte(strictRequest(c.id, "", "")), fast)
			if c.ok != (err == nil) {
				t.Fatalf("id %q (fast %v): err %v, want ok %v", c.id, fast, err, c.ok)
			}
			if err != nil && (!errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "32 lower-case hex")) {
				t.Fatalf("id %q: refusal %v does not say why", c.id, err)
			}
		}
	}
}

func TestDuplicateKeysRefused(t *testing.T) {
	id := "0123456789abcdef0123456789abcdef"
	sec := func(extra string) string {
		return `{"protocol":"choria:secure:request:1","message":"m","signature":"c2ln","pubcert":"p"` + extra + `}`
	}
	tr := func(headers, extra string) string {
		return `{"protocol":"choria:transport:1","data":"e30=","headers":{` + headers + `}` + extra + `}`
	}
	for _, c := range []struct {
		name, layer, doc, key string
	}{
		{"transport", "transport", tr(`"reply-to":"x"`, `,"data":"e30="`), "data"},
		{"transport header", "transport", tr(`"reply-to":"a","reply-to":"b"`, ""), "reply-to"},
		{"transport unknown key", "transport", tr(``, `,"x":1,"x":2`), "x"},
		{"transport federation", "transport", tr(`"federation":{"a":1,"a":2}`, ""), "a"},
		{"secure request", "secure request", sec(`,"message":"n"`), "message"},
		{"secure request pubcert", "secure request", sec(`,"pubcert":"q"`), "pubcert"},
		{"request callerid, signer's last", "request", strictRequest(id, `"callerid":"choria=bob.mcollective",`, ""), "callerid"},
		{"request callerid, case", "request", strictRequest(id, `"CallerID":"choria=bob.mcollective",`, ""), "CallerID"},
		{"request callerid, escaped", "request", strictRequest(id, `"caller\u0069d":"choria=bob.mcollective",`, ""), "callerid"},
		{"request envelope unknown", "request", strictRequest(id, `"x":1,"x":2,`, ""), "x"},
		{"request top", "request", `{"protocol":"choria:request:1","message":"m","message":"n"}`, "message"},
		{"filter", "request", strictRequest(id, "", `,"identity":["n1"]`), "identity"},
		{"fact filter", "request", withFilter(id, `"fact":[{"fact":"a","operator":"==","value":"b","value":"c"}],"compound":[]`), "value"},
		{"compound entry", "request", withFilter(id, `"fact":[],"compound":[[{"expr":"a","expr":"b"}]]`), "expr"},
		{"payload", "request payload", `{"agent":"a","action":"b","agent":"c","data":{}}`, "agent"},
		{"payload data", "request payload", `{"agent":"a","action":"b","data":{"service":"nginx","service":"sshd"}}`, "service"},
		{"payload data, case", "request payload", `{"agent":"a","action":"b","data":{"service":"nginx","Service":"sshd"}}`, "Service"},
		{"payload data, kelvin", "request payload", `{"agent":"a","action":"b","data":{"k":1,"\u212a":2}}`, "\u212a"},
		{"payload data, nested", "request payload", `{"agent":"a","action":"b","data":{"x":[{"y":1,"y":2}]}}`, "y"},
		{"payload data, big object", "request payload", `{"agent":"a","action":"b","data":{` + manyKeys(40) + `,"k7":0}}`, "k7"},
		{"reply body", "reply body", `{"action":"a","statuscode":0,"statusmsg":"OK","data":{"a":1,"a":2}}`, "a"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, fast := range []bool{true, false} {
				var err error
				switch c.layer {
				case "transport":
					_, err = decodeTransport([]byte(c.doc), 0, fast)
				case "secure request":
					_, err = decodeSecureRequest([]byte(c.doc), fast)
				case "request":
					_, err = decodeRequest([]byte(c.doc), fast)
				case "request payload":
					_, err = decodeRPCRequest([]byte(c.doc), fast)
				case "reply body":
					_, err = decodeRPCReply([]byte(c.doc), fast)
				}
				if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "key "+strconv.Quote(c.key)+" twice") {
					t.Fatalf("fast %v: %v, want a refusal naming key %q", fast, err, c.key)
				}
			}
		})
	}
	// the same documents without the repeat decode
	if _, err := DecodeRPCRequest([]byte(`{"agent":"a","action":"b","data":{` + manyKeys(40) + `}}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeRequest([]byte(strictRequest(id, "", ""))); err != nil {
		t.Fatal(err)
	}
}

func withFilter(id, factAndCompound string) string {
	r := strictRequest(id, "", "")
	return strings.Replace(r, `"fact":[],"cf_class":[],"identity":[],"compound":[]`, `"cf_class":[],"identity":[],`+factAndCompound, 1)
}

func manyKeys(n int) string {
	var parts []string
	for i := 0; i < n; i++ {
		parts = append(parts, `"k`+string(rune('a'+i%26))+strings.Repeat("x", i/26)+`":1`)
	}
	parts = append(parts, `"k7":1`)
	return strings.Join(parts, ",")
}

// A whole transport message whose signed request names bob first and
// the signer last is refused at the request layer.
func TestDuplicateCallerThroughLayers(t *testing.T) {
	req := strictRequest("0123456789abcdef0123456789abcdef", `"callerid":"choria=bob.mcollective",`, "")
	sec := `{"protocol":"choria:secure:request:1","message":` + strconv.Quote(req) + `,"signature":"c2ln","pubcert":"p"}`
	msg := `{"protocol":"choria:transport:1","data":"` + base64.StdEncoding.EncodeToString([]byte(sec)) + `","headers":{}}`
	tr, err := DecodeTransport([]byte(msg), 0)
	if err != nil {
		t.Fatal(err)
	}
	sr, err := DecodeSecureRequest(tr.Data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeRequest(sr.Message); err == nil || !strings.Contains(err.Error(), `"callerid" twice in request.envelope`) {
		t.Fatalf("duplicate callerid: %v", err)
	}
}

func TestUnknownFilterSelectorKept(t *testing.T) {
	id := "0123456789abcdef0123456789abcdef"
	for _, fast := range []bool{true, false} {
		r, err := decodeRequest([]byte(strictRequest(id, "", `,"zz_new":[1],"a_new":{}`)), fast)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(r.Filter.Unknown, []string{"a_new", "zz_new"}) || r.Filter.Empty() {
			t.Fatalf("fast %v: unknown selectors %v", fast, r.Filter.Unknown)
		}
		r, err = decodeRequest([]byte(strictRequest(id, "", "")), fast)
		if err != nil || r.Filter.Unknown != nil {
			t.Fatalf("fast %v: known filter: %v %v", fast, r.Filter.Unknown, err)
		}
	}
}

func TestDuplicateKeyOracle(t *testing.T) {
	for _, c := range []struct {
		doc string
		dup bool
	}{
		{`{}`, false}, {`{"a":1,"b":{"a":1}}`, false}, {`[{"a":1},{"a":1}]`, false},
		{`{"a":{"b":1},"c":[{"d":1,"e":{"f":1,"f":2}}]}`, true}, {`{"a":[1,{"b":1}],"a":2}`, true},
		{`{"ſ":1,"s":2}`, true}, {`{"a":"a","b":"a"}`, false}, {`{"a":1,`, false},
	} {
		if err := duplicateKey("doc", []byte(c.doc)); (err != nil) != c.dup {
			t.Errorf("%s: %v, want duplicate %v", c.doc, err, c.dup)
		}
	}
}
