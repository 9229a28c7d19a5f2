package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(TimeLayout, s)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func TestRecordGolden(t *testing.T) {
	tests := []struct {
		name string
		rec  Record
		want string
	}{
		{
			name: "Choria's line, as a Choria server writes it",
			rec: Record{Timestamp: mustTime(t, "2026-11-22T14:31:25.695823+0000"), RequestID: "694373eb775142e9ad9865d67c5e8e2d",
				RequestTime: 1795357885, Caller: "choria=anchor.mcollective", Sender: "anchor.mcollective", Agent: "rpcutil", Action: "ping",
				Data: json.RawMessage(`{}`)},
			want: `{"timestamp":"2026-11-22T14:31:25.695823+0000","request_id":"694373eb775142e9ad9865d67c5e8e2d","request_time":1795357885,"caller":"choria=anchor.mcollective","sender":"anchor.mcollective","agent":"rpcutil","action":"ping","data":{}}`,
		},
		{
			name: "record with tutti's decision fields",
			rec: Record{Timestamp: mustTime(t, "2026-11-22T14:31:27.100412+0000"), RequestID: "5b0e4d7a9c3f4e21b8a7c6d5e4f3a2b1",
				RequestTime: 1795357887, Caller: "up=bob", Sender: "laptop.example.net", Agent: "rpcutil", Action: "get_config_item",
				Data: json.RawMessage(`{"item":"loglevel"}`), Decision: Deny, Reason: "Denying based on default policy in rpcutil.policy",
				Identity: "node001.choria.local", Collective: "mcollective", Policy: "rpcutil.policy", Signer: "aaasvc.privileged.mcollective"},
			want: `{"timestamp":"2026-11-22T14:31:27.100412+0000","request_id":"5b0e4d7a9c3f4e21b8a7c6d5e4f3a2b1","request_time":1795357887,"caller":"up=bob","sender":"laptop.example.net","agent":"rpcutil","action":"get_config_item","data":{"item":"loglevel"},"decision":"deny","reason":"Denying based on default policy in rpcutil.policy","identity":"node001.choria.local","collective":"mcollective","policy":"rpcutil.policy","signer":"aaasvc.privileged.mcollective"}`,
		},
		{
			name: "record of a request approved by a second person",
			rec: Record{Timestamp: mustTime(t, "2026-11-22T14:31:27.100412+0000"), RequestID: "5b0e4d7a9c3f4e21b8a7c6d5e4f3a2b1",
				RequestTime: 1795357887, Caller: "up=bob", Sender: "laptop.example.net", Agent: "service", Action: "restart",
				Data: json.RawMessage(`{}`), Decision: Allow, Reason: "ok", Identity: "node001", Collective: "mcollective",
				Policy: "service.policy", Signer: "aaa.privileged.mcollective",
				Approval: json.RawMessage(`{"id":"0a1b","requester":"up=bob","approver":"up=alice"}`)},
			want: `{"timestamp":"2026-11-22T14:31:27.100412+0000","request_id":"5b0e4d7a9c3f4e21b8a7c6d5e4f3a2b1","request_time":1795357887,"caller":"up=bob","sender":"laptop.example.net","agent":"service","action":"restart","data":{},"decision":"allow","reason":"ok","identity":"node001","collective":"mcollective","policy":"service.policy","signer":"aaa.privileged.mcollective","approval":{"id":"0a1b","requester":"up=bob","approver":"up=alice"}}`,
		},
		{
			name: "other zone written as UTC, absent data as {}, empty tutti fields kept",
			rec:  Record{Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.FixedZone("X", 2*3600)), Decision: Allow},
			want: `{"timestamp":"2026-01-02T01:04:05.000006+0000","request_id":"","request_time":0,"caller":"","sender":"","agent":"","action":"","data":{},"decision":"allow","reason":"","identity":"","collective":"","policy":"","signer":""}`,
		},
	}
	path := filepath.Join(t.TempDir(), "audit.log")
	f := newTestFile(t, FileConfig{Path: path})
	var file string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := f.Audit(context.Background(), &tt.rec); err != nil {
				t.Fatal(err)
			}
			file += tt.want + "\n"
			prefix := []byte("kept:")
			got := tt.rec.AppendJSON(prefix)
			if !bytes.HasPrefix(got, []byte("kept:")) {
				t.Fatal("AppendJSON did not append")
			}
			if s := string(got[len("kept:"):]); s != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", s, tt.want)
			}
		})
	}
	// the file holds exactly these lines
	if data, err := os.ReadFile(path); err != nil || string(data) != file {
		t.Fatalf("file holds\n%s\nwant\n%s (%v)", data, file, err)
	}
}

func TestRecordData(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"nil", "", `{}`},
		{"blank", "  ", `{}`},
		{"kept exactly", `{"b": 1, "a":[true,null]}`, `{"b": 1, "a":[true,null]}`},
		{"multi-line compacted", "{\n  \"process_results\": true\n}\n", `{"process_results":true}`},
		{"not JSON written as a string", "{\"a\":\n", `"{\"a\":\n"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Record{Data: json.RawMessage(tt.data)}
			line := string(r.AppendJSON(nil))
			_, after, _ := strings.Cut(line, `"data":`)
			if after != tt.want+"}" {
				t.Fatalf("data written as %s, want %s", after, tt.want)
			}
			if !json.Valid([]byte(line)) || strings.Contains(line, "\n") {
				t.Fatalf("not one JSON line: %q", line)
			}
		})
	}
}

func TestRecordEscaping(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "up=bob", "up=bob"},
		{"quote and backslash", `a"b\c`, `a"b\c`},
		{"newline cannot split the line", "x\ny\r\tz", "x\ny\r\tz"},
		{"control", "\x00\x1f", "\x00\x1f"},
		{"invalid utf-8", "a\xffb\xc3", "a\ufffdb\ufffd"},
		{"line separators", "a\u2028b\u2029", "a\u2028b\u2029"},
		{"multibyte", "ünïcødé ✓", "ünïcødé ✓"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Record{Caller: tt.in}
			line := r.AppendJSON(nil)
			if bytes.ContainsAny(line, "\n\r") || bytes.Contains(line, []byte("\u2028")) {
				t.Fatalf("raw line break in %q", line)
			}
			var m map[string]any
			if err := json.Unmarshal(line, &m); err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			if m["caller"] != tt.want {
				t.Fatalf("caller decoded as %q, want %q", m["caller"], tt.want)
			}
		})
	}
}

// strictLine checks line as a strict reader of the audit log does: one
// JSON object on one line, in valid UTF-8 (json.Valid does not check it).
func strictLine(line []byte) error {
	switch {
	case bytes.ContainsAny(line, "\r\n"):
		return fmt.Errorf("line break in %q", line)
	case !utf8.Valid(line):
		return fmt.Errorf("invalid UTF-8 in %q", line)
	case !json.Valid(line) || !bytes.HasPrefix(line, []byte("{")):
		return fmt.Errorf("not a JSON object: %q", line)
	}
	return nil
}

// Request data is copied as received, but never with invalid UTF-8:
// json.Valid accepts it, strict readers do not.
func TestRecordDataInvalidUTF8(t *testing.T) {
	for _, data := range []string{"{\"a\":\"x\xff\xfey\"}", "[\"\xc3\"]", "{\n\"k\xff\": 1\n}", "\"\xed\xa0\x80\""} {
		line := (&Record{Data: json.RawMessage(data)}).AppendJSON(nil)
		if err := strictLine(line); err != nil {
			t.Fatalf("data %q: %v", data, err)
		}
		if !bytes.Contains(line, []byte("\uFFFD")) {
			t.Fatalf("data %q: invalid bytes not replaced in %q", data, line)
		}
	}
	line := (&Record{Data: json.RawMessage(`{"a":"ünï"}`)}).AppendJSON(nil)
	if !bytes.Contains(line, []byte(`"data":{"a":"ünï"}`)) {
		t.Fatalf("valid data changed: %q", line)
	}
}

func FuzzAppendJSON(f *testing.F) {
	f.Add("up=bob", "rpcutil", []byte(`{"a":1}`), "deny")
	f.Add("a\xff\u2028\"", "\x00", []byte("{\n}"), "")
	f.Add("", "", []byte("not json"), "allow")
	f.Add("up=bob", "rpcutil", []byte("{\"a\":\"\xff\"}"), "allow")
	f.Fuzz(func(t *testing.T, caller, agent string, data []byte, decision string) {
		r := Record{Timestamp: time.Unix(1795357885, 123456000), Caller: caller, Agent: agent, Data: data, Decision: decision, Reason: caller}
		line := r.AppendJSON(nil)
		if err := strictLine(line); err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("invalid JSON %q: %v", line, err)
		}
		var want strings.Builder
		for _, c := range caller {
			want.WriteRune(c)
		}
		if m["caller"] != want.String() || (decision != "") != (m["decision"] != nil) {
			t.Fatalf("round trip: %q → %v", caller, m)
		}
	})
}
