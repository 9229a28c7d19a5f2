package protocol

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// The Choria v1 codec. Encoders write compact JSON in the field order of
// docs/protocol.md; decoders validate in code (no JSON schema, W1) and return
// *Error values.

var b64 = base64.StdEncoding

// insecureMarker is the literal used by unsigned requests to a signer.
const insecureMarker = "insecure"

// ---------------------------------------------------------------- transport

// EncodeTransport serialises t; Data is base64-encoded.
func EncodeTransport(t *Transport) ([]byte, error) {
	b := make([]byte, 0, 128+b64.EncodedLen(len(t.Data))+len(t.ReplyTo)+len(t.Sender)+len(t.Federation))
	b = append(b, `{"protocol":"`+TransportV1+`","data":"`...)
	b = b64.AppendEncode(b, t.Data)
	b = append(b, `","headers":{`...)
	var ok bool
	sep := false
	field := func(key, val string) {
		if val == "" || !ok {
			return
		}
		if sep {
			b = append(b, ',')
		}
		b = appendKey(b, key)
		b, ok = AppendString(b, val)
		sep = true
	}
	ok = true
	field("reply-to", t.ReplyTo)
	field("mc_sender", t.Sender)
	if !ok {
		return nil, Errorf(KindMalformed, "transport header is not valid UTF-8")
	}
	if len(t.SeenBy) > 0 {
		if sep {
			b = append(b, ',')
		}
		b = appendKey(b, "seen-by")
		b = append(b, '[')
		for i, hop := range t.SeenBy {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			for j, s := range hop {
				if j > 0 {
					b = append(b, ',')
				}
				if b, ok = AppendString(b, s); !ok {
					return nil, Errorf(KindMalformed, "seen-by entry is not valid UTF-8")
				}
			}
			b = append(b, ']')
		}
		b = append(b, ']')
		sep = true
	}
	if len(t.Federation) > 0 {
		if sep {
			b = append(b, ',')
		}
		b = appendKey(b, "federation")
		b = append(b, t.Federation...)
	}
	return append(b, "}}"...), nil
}

// ---------------------------------------------------------- secure request

// EncodeSecureRequest serialises s. With s.Insecure the signature and
// pubcert fields carry the literal "insecure".
func EncodeSecureRequest(s *SecureRequest) ([]byte, error) {
	b := make([]byte, 0, 96+len(s.Message)*5/4+b64.EncodedLen(len(s.Signature))+len(s.PubCert)*11/10)
	b = append(b, `{"protocol":"`+SecureRequestV1+`","message":`...)
	var ok bool
	if b, ok = AppendString(b, s.Message); !ok {
		return nil, Errorf(KindMalformed, "request message is not valid UTF-8")
	}
	b = append(b, `,"signature":"`...)
	if s.Insecure {
		b = append(b, insecureMarker+`","pubcert":"`+insecureMarker+`"}`...)
		return b, nil
	}
	if len(s.Signature) == 0 || len(s.PubCert) == 0 {
		return nil, Errorf(KindMalformed, "secure request needs a signature and a certificate")
	}
	b = b64.AppendEncode(b, s.Signature)
	b = append(b, `","pubcert":`...)
	if b, ok = AppendString(b, s.PubCert); !ok {
		return nil, Errorf(KindMalformed, "certificate is not valid UTF-8")
	}
	return append(b, '}'), nil
}

// ------------------------------------------------------------------ request

// EncodeRequest serialises r into the bytes that get signed.
func EncodeRequest(r *Request) ([]byte, error) {
	filter, err := json.Marshal(&r.Filter)
	if err != nil {
		return nil, Wrap(KindMalformed, err, "encode filter")
	}
	b := make([]byte, 0, 256+len(r.Message)*5/4+len(filter))
	b = append(b, `{"protocol":"`+RequestV1+`","message":`...)
	ok := true
	b, ok = AppendString(b, r.Message)
	b = append(b, `,"envelope":{`...)
	for i, kv := range [...][2]string{
		{"requestid", r.ID}, {"senderid", r.SenderID}, {"callerid", r.CallerID},
		{"collective", r.Collective}, {"agent", r.Agent},
	} {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendKey(b, kv[0])
		var good bool
		b, good = AppendString(b, kv[1])
		ok = ok && good
	}
	if !ok {
		return nil, Errorf(KindMalformed, "request contains invalid UTF-8")
	}
	b = append(b, `,"ttl":`...)
	b = appendInt(b, int64(r.TTL))
	b = append(b, `,"time":`...)
	b = appendInt(b, r.Time)
	b = append(b, `,"filter":`...)
	b = append(b, filter...)
	return append(b, "}}"...), nil
}

// PayloadBytes applies the node decoding rule to the agent payload
// (docs/protocol.md §4.1): a strict standard-base64 decode of the whole
// string if it succeeds, otherwise the string as is.
func (r *Request) PayloadBytes() []byte {
	// RPC JSON starts with '{', which is not in the base64 alphabet (nor
	// one of the newlines the decoder skips): no need to try.
	if r.Message != "" && r.Message[0] == '{' {
		return []byte(r.Message)
	}
	if dec, err := b64Strict.DecodeString(r.Message); err == nil {
		return dec
	}
	return []byte(r.Message)
}

// b64Strict is built once: Strict returns a new Encoding on every call.
var b64Strict = b64.Strict()

// ------------------------------------------------------------- secure reply

// EncodeSecureReply serialises s. Hash is computed from Message when empty.
func EncodeSecureReply(s *SecureReply) ([]byte, error) {
	return AppendSecureReply(make([]byte, 0, 128+len(s.Message)*5/4+b64.EncodedLen(len(s.Signature))+len(s.PubCert)*11/10), s)
}

// AppendSecureReply is EncodeSecureReply appending to b (a reused buffer).
func AppendSecureReply(b []byte, s *SecureReply) ([]byte, error) {
	hash := s.Hash
	if len(hash) == 0 {
		sum := sha256.Sum256(s.Message)
		hash = sum[:]
	}
	b = append(b, `{"protocol":"`+SecureReplyV1+`","message":`...)
	var ok bool
	if b, ok = AppendString(b, s.Message); !ok {
		return nil, Errorf(KindMalformed, "reply message is not valid UTF-8")
	}
	b = append(b, `,"hash":"`...)
	b = b64.AppendEncode(b, hash)
	b = append(b, '"')
	if len(s.Signature) > 0 {
		b = append(b, `,"signature":"`...)
		b = b64.AppendEncode(b, s.Signature)
		b = append(b, `","pubcert":`...)
		if b, ok = AppendString(b, s.PubCert); !ok {
			return nil, Errorf(KindMalformed, "certificate is not valid UTF-8")
		}
	}
	return append(b, '}'), nil
}

// -------------------------------------------------------------------- reply

// EncodeReply serialises r into the bytes that get hashed and signed.
func EncodeReply(r *Reply) ([]byte, error) {
	return AppendReply(make([]byte, 0, 160+len(r.Message)*5/4), r)
}

// AppendReply is EncodeReply appending to b (a reused buffer).
func AppendReply(b []byte, r *Reply) ([]byte, error) {
	b = append(b, `{"protocol":"`+ReplyV1+`","message":`...)
	ok := true
	b, ok = AppendString(b, r.Message)
	b = append(b, `,"envelope":{"requestid":`...)
	var o2, o3, o4 bool
	b, o2 = AppendString(b, r.RequestID)
	b = append(b, `,"senderid":`...)
	b, o3 = AppendString(b, r.SenderID)
	b = append(b, `,"agent":`...)
	b, o4 = AppendString(b, r.Agent)
	if !(ok && o2 && o3 && o4) {
		return nil, Errorf(KindMalformed, "reply contains invalid UTF-8")
	}
	b = append(b, `,"time":`...)
	b = appendInt(b, r.Time)
	return append(b, "}}"...), nil
}

// ---------------------------------------------------------------- payloads

// EncodeRPCRequest serialises an RPC payload. nil data becomes {}.
func EncodeRPCRequest(agent, action string, data json.RawMessage) (string, error) {
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	b, err := json.Marshal(&RPCRequest{Agent: agent, Action: action, Data: data})
	if err != nil {
		return "", Wrap(KindMalformed, err, "encode request payload")
	}
	return string(b), nil
}

// EncodeRPCReply serialises an RPC reply body. nil data becomes {}.
func EncodeRPCReply(r *RPCReply) ([]byte, error) {
	data := r.Data
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	b := make([]byte, 0, 64+len(r.Action)+len(r.StatusMsg)+len(data))
	b = append(b, `{"action":`...)
	var o1, o2 bool
	b, o1 = AppendString(b, r.Action)
	b = append(b, `,"statuscode":`...)
	b = appendInt(b, int64(r.StatusCode))
	b = append(b, `,"statusmsg":`...)
	b, o2 = AppendString(b, r.StatusMsg)
	if !o1 || !o2 {
		return nil, Errorf(KindMalformed, "reply contains invalid UTF-8")
	}
	if !json.Valid(data) {
		return nil, Errorf(KindMalformed, "reply data is not valid JSON")
	}
	b = append(b, `,"data":`...)
	b = append(b, data...)
	return append(b, '}'), nil
}

// NewRequestID returns 32 lowercase hex characters: a random UUIDv4
// without dashes (122 random bits).
func NewRequestID() string {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	u[6] = (u[6] & 0x0f) | 0x40
	u[8] = (u[8] & 0x3f) | 0x80
	return hex.EncodeToString(u[:])
}
