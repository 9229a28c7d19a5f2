package signer

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/tuttifleet/tutti/aaa/audit"
)

// The signer's audit record is aaasvc's JetStream shape: collectors
// parse it, so its bytes are a contract. Each record is written by the
// file auditor as exactly these bytes and a newline.
func TestAuditRecordGolden(t *testing.T) {
	tests := []struct {
		name string
		rec  AuditRecord
		want string
	}{
		{
			name: "allowed, aaasvc fields only",
			rec: AuditRecord{Protocol: AuditProtocol, CallerID: "up=bob", Action: DecisionAllow, Site: "london", Time: 1795357885,
				Request: json.RawMessage(`{"protocol":"choria:request:1","agent":"rpcutil"}`), RequestID: "694373eb775142e9ad9865d67c5e8e2d"},
			want: `{"protocol":"io.choria.signer.v1.signature_audit","callerid":"up=bob","action":"allow","site":"london","time":1795357885,"request":{"protocol":"choria:request:1","agent":"rpcutil"},"request_id":"694373eb775142e9ad9865d67c5e8e2d"}`,
		},
		{
			name: "denied with tutti fields, HTML characters escaped, request compacted",
			rec: AuditRecord{Protocol: AuditProtocol, CallerID: "up=bob", Action: DecisionDeny, Site: "london", Time: 1795357887,
				Request: json.RawMessage("{\n \"callerid\": \"<up=eve&>\"\n}"), RequestID: "5b0e",
				Reason: `request callerid "up=eve" is not the token's "up=bob"`, ErrorCode: CodeCallerMismatch, RequestedCallerID: "up=eve"},
			want: `{"protocol":"io.choria.signer.v1.signature_audit","callerid":"up=bob","action":"deny","site":"london","time":1795357887,"request":{"callerid":"\u003cup=eve\u0026\u003e"},"request_id":"5b0e","reason":"request callerid \"up=eve\" is not the token's \"up=bob\"","error_code":"caller_mismatch","requested_callerid":"up=eve"}`,
		},
		{
			name: "allowed, naming its signing certificate",
			rec: AuditRecord{Protocol: AuditProtocol, CallerID: "up=bob", Action: DecisionAllow, Site: "london", Time: 1795357885,
				Request: json.RawMessage(`{}`), RequestID: "r1", Signer: "aaa.privileged.mcollective"},
			want: `{"protocol":"io.choria.signer.v1.signature_audit","callerid":"up=bob","action":"allow","site":"london","time":1795357885,"request":{},"request_id":"r1","signer":"aaa.privileged.mcollective"}`,
		},
		{
			name: "bearer, no request",
			rec:  AuditRecord{Protocol: AuditProtocol, Action: DecisionAllow, Reason: "bearer"},
			want: `{"protocol":"io.choria.signer.v1.signature_audit","callerid":"","action":"allow","site":"","time":0,"request":null,"request_id":"","reason":"bearer"}`,
		},
	}
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	f, err := audit.NewFile(audit.FileConfig{Path: path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var file string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.rec.AppendAudit([]byte("kept:"))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "kept:"+tt.want {
				t.Fatalf("got\n%s\nwant\n%s", got, "kept:"+tt.want)
			}
			if err := f.Audit(context.Background(), &tt.rec); err != nil {
				t.Fatal(err)
			}
			file += tt.want + "\n"
		})
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != file {
		t.Fatalf("file holds\n%s\nwant\n%s", data, file)
	}
	if _, err := (&AuditRecord{Request: json.RawMessage(`{`)}).AppendAudit(nil); err == nil {
		t.Fatal("a record with invalid request JSON was encoded")
	}
}

// A request is audited as received, but never with invalid UTF-8:
// encoding/json copies a RawMessage's bytes, and strict readers refuse
// them.
func FuzzAuditRecordUTF8(f *testing.F) {
	f.Add("up=bob", []byte(`{"agent":"rpcutil"}`))
	f.Add("up=\xff", []byte("{\"agent\":\"rpc\xffutil\",\"data\":{\"k\xc3\":\"\xed\xa0\x80\"}}"))
	f.Fuzz(func(t *testing.T, caller string, req []byte) {
		if !json.Valid(req) {
			return // the signer only audits requests it decoded
		}
		line, err := (&AuditRecord{Protocol: AuditProtocol, CallerID: caller, Request: req}).AppendAudit(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.Valid(line) || !json.Valid(line) || bytes.ContainsAny(line, "\r\n") {
			t.Fatalf("not one strict JSON line: %q", line)
		}
		var compact bytes.Buffer
		_ = json.Compact(&compact, req) // req is valid
		if utf8.Valid(req) && !bytes.ContainsAny(req, "<>&\u2028\u2029") && !bytes.Contains(line, compact.Bytes()) {
			t.Fatalf("valid request %q not kept in %q", req, line)
		}
	})
}
