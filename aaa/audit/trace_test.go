package audit

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// The trace fields are added beside the others: a decision record gains
// received and filter after signer, an outcome record has its own shape,
// type first.
func TestTraceRecordGolden(t *testing.T) {
	ts := time.Date(2026, 11, 22, 14, 31, 17, 123456000, time.UTC)
	tests := []struct {
		name string
		rec  Record
		want string
	}{{
		name: "decision with received and filter",
		rec: Record{Timestamp: ts, RequestID: "r1", RequestTime: 1795357877, Caller: "up=alice", Sender: "c", Agent: "rpcutil",
			Action: "ping", Decision: Allow, Identity: "n1", Collective: "mcollective", Signer: "aaa.privileged.mcollective",
			Received: ts.Add(-time.Millisecond), Filter: json.RawMessage("{\"identity\":\n[\"n1\"]}")},
		want: `{"timestamp":"2026-11-22T14:31:17.123456+0000","request_id":"r1","request_time":1795357877,"caller":"up=alice","sender":"c","agent":"rpcutil","action":"ping","data":{},"decision":"allow","reason":"","identity":"n1","collective":"mcollective","policy":"","signer":"aaa.privileged.mcollective","received":"2026-11-22T14:31:17.122456+0000","filter":{"identity":["n1"]}}`,
	}, {
		name: "outcome",
		rec: Record{Type: TypeOutcome, Timestamp: ts, RequestID: "r1", Caller: "up=alice", Agent: "rpcutil", Action: "ping",
			Identity: "n1", Signer: "aaa.privileged.mcollective", StatusCode: 1, StatusMsg: "Aborted", Started: ts.Add(-1500 * time.Microsecond), Duration: 1500 * time.Microsecond},
		want: `{"type":"outcome","timestamp":"2026-11-22T14:31:17.123456+0000","request_id":"r1","caller":"up=alice","agent":"rpcutil","action":"ping","identity":"n1","signer":"aaa.privileged.mcollective","statuscode":1,"statusmsg":"Aborted","started":"2026-11-22T14:31:17.121956+0000","duration_ms":1.500}`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(tt.rec.AppendJSON(nil))
			if got != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tt.want)
			}
			if !json.Valid([]byte(got)) {
				t.Fatal("not JSON")
			}
		})
	}
}

func TestDecodeEvent(t *testing.T) {
	ts := time.Date(2026, 11, 22, 14, 31, 17, 0, time.UTC)
	dec := Record{Timestamp: ts, RequestID: "r1", Caller: "up=alice", Agent: "rpcutil", Action: "ping", Data: json.RawMessage(`{"x":1}`),
		Decision: Deny, Reason: "no policy", Identity: "n1", Received: ts, Filter: json.RawMessage(`{"agent":["rpcutil"]}`)}
	e, err := DecodeEvent(dec.AppendJSON(nil))
	if err != nil {
		t.Fatal(err)
	}
	if e.Kind != KindDecision || e.Decision != Deny || e.Reason != "no policy" || !e.Received.Equal(ts) || string(e.Filter) != `{"agent":["rpcutil"]}` || string(e.Data) != `{"x":1}` {
		t.Fatalf("decision decoded as %+v", e)
	}
	out := Record{Type: TypeOutcome, Timestamp: ts, RequestID: "r1", Identity: "n1", StatusCode: 0, StatusMsg: "OK", Started: ts, Duration: 2 * time.Millisecond}
	if e, err = DecodeEvent(out.AppendJSON(nil)); err != nil {
		t.Fatal(err)
	}
	if e.Kind != KindOutcome || e.StatusCode == nil || *e.StatusCode != 0 || e.Duration != 2*time.Millisecond || e.Identity != "n1" {
		t.Fatalf("outcome decoded as %+v", e)
	}
	signed := `{"protocol":"io.choria.signer.v1.signature_audit","callerid":"up=alice","action":"allow","site":"london","time":1795357877,` +
		`"request":{"protocol":"choria:request:1","message":"{\"agent\":\"rpcutil\",\"action\":\"ping\",\"data\":{}}","envelope":{"agent":"rpcutil","collective":"mcollective","filter":{"identity":["n1"]}}},` +
		`"request_id":"r1","signer":"aaa.privileged.mcollective"}`
	if e, err = DecodeEvent([]byte(signed)); err != nil {
		t.Fatal(err)
	}
	if e.Kind != KindSigner || e.Caller != "up=alice" || e.Decision != Allow || e.Action != "ping" || e.Agent != "rpcutil" ||
		e.Signer != "aaa.privileged.mcollective" || string(e.Filter) != `{"identity":["n1"]}` || e.Time.Unix() != 1795357877 {
		t.Fatalf("signer record decoded as %+v", e)
	}
	// two-person approval: tutti-aaa's record names the approver, a
	// node's carries the approval the signer put in the request
	approved := Record{Timestamp: ts, RequestID: "r2", Caller: "up=alice", Agent: "service", Action: "restart", Decision: Allow,
		Identity: "n1", Approval: json.RawMessage(`{"id":"ap1","requester":"up=alice","approver":"up=bob"}`)}
	if e, err = DecodeEvent(approved.AppendJSON(nil)); err != nil || e.Approver != "up=bob" || e.ApprovalID != "ap1" {
		t.Fatalf("node record with an approval decoded as %+v (%v)", e, err)
	}
	signedApproved := `{"protocol":"io.choria.signer.v1.signature_audit","callerid":"up=alice","action":"allow","time":1795357877,` +
		`"request_id":"r2","approval_id":"ap1","approver":"up=bob"}`
	if e, err = DecodeEvent([]byte(signedApproved)); err != nil || e.Kind != KindSigner || e.Approver != "up=bob" || e.ApprovalID != "ap1" {
		t.Fatalf("signer record with an approver decoded as %+v (%v)", e, err)
	}
	// a checkpoint as the chain writes it: its time is a string
	if e, err = DecodeEvent([]byte(`{"type":"checkpoint","seq":1001,"time":"2026-12-06T19:30:00.000Z","writer":"n1"}`)); err != nil || e.Kind != KindOther {
		t.Fatalf("checkpoint with a string time: %+v %v", e, err)
	}
	if e, err = DecodeEvent([]byte(`{"type":"checkpoint","seq":9}`)); err != nil || e.Kind != KindOther {
		t.Fatalf("checkpoint: %+v %v", e, err)
	}
	for _, bad := range []string{``, `[]`, `{}`, `{"request_id":`, `"r1"`} {
		if _, err := DecodeEvent([]byte(bad)); !errors.Is(err, ErrNotRecord) {
			t.Errorf("%q: err %v, want ErrNotRecord", bad, err)
		}
	}
}

// FuzzDecodeEvent: any line decodes or fails with ErrNotRecord, never
// panics, and a decoded event re-encodes as JSON.
func FuzzDecodeEvent(f *testing.F) {
	ts := time.Date(2026, 11, 22, 14, 31, 17, 0, time.UTC)
	f.Add((&Record{Timestamp: ts, RequestID: "r1", Decision: Allow, Filter: json.RawMessage(`{}`), Received: ts}).AppendJSON(nil))
	f.Add((&Record{Type: TypeOutcome, Timestamp: ts, RequestID: "r1", Duration: time.Second}).AppendJSON(nil))
	f.Add([]byte(`{"protocol":"io.choria.signer.v1.signature_audit","request":{"message":"{\"action\":1}","envelope":{"filter":[]}},"request_id":"x"}`))
	f.Add([]byte(`{"type":"checkpoint"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEvent(b)
		if err != nil {
			if !errors.Is(err, ErrNotRecord) {
				t.Fatalf("error %v does not match ErrNotRecord", err)
			}
			return
		}
		if _, err := json.Marshal(e); err != nil {
			t.Fatalf("decoded event does not encode: %v", err)
		}
	})
}
