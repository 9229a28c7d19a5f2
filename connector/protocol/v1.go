package protocol

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// The Choria v1 codec. Encoders write compact JSON in the field order of
// PROTOCOL.md; decoders validate in code (no JSON schema, W1) and return
// *Error values.

var b64 = base64.StdEncoding

// insecureMarker is the literal used by unsigned requests to a signer.
const insecureMarker = "insecure"

// ---------------------------------------------------------------- transport

type wireTransport struct {
	Protocol string  `json:"protocol"`
	Data     *string `json:"data"`
	Headers  *struct {
		ReplyTo    string          `json:"reply-to"`
		Sender     string          `json:"mc_sender"`
		SeenBy     [][]string      `json:"seen-by"`
		Federation json.RawMessage `json:"federation"`
	} `json:"headers"`
}

// EncodeTransport serialises t; Data is base64-encoded.
func EncodeTransport(t *Transport) ([]byte, error) {
	b := make([]byte, 0, 64+b64.EncodedLen(len(t.Data))+len(t.ReplyTo)+len(t.Sender))
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
		b, ok = appendString(b, val)
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
				if b, ok = appendString(b, s); !ok {
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

// DecodeTransport parses a transport message of at most maxSize bytes
// (0 means DefaultMaxMessageSize).
func DecodeTransport(msg []byte, maxSize int) (*Transport, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxMessageSize
	}
	if len(msg) > maxSize {
		return nil, Errorf(KindTooLarge, "message of %d bytes exceeds the limit of %d bytes", len(msg), maxSize)
	}
	var w wireTransport
	if err := json.Unmarshal(msg, &w); err != nil {
		return nil, Wrap(KindMalformed, err, "transport is not valid JSON")
	}
	if w.Protocol != TransportV1 {
		return nil, Errorf(KindUnknownProtocol, "unknown transport protocol %q", w.Protocol)
	}
	if w.Data == nil || *w.Data == "" {
		return nil, Errorf(KindMalformed, "transport has no data")
	}
	if w.Headers == nil {
		return nil, Errorf(KindMalformed, "transport has no headers")
	}
	data, err := b64.DecodeString(*w.Data)
	if err != nil {
		return nil, Wrap(KindMalformed, err, "transport data is not valid base64")
	}
	t := &Transport{Data: data, ReplyTo: w.Headers.ReplyTo, Sender: w.Headers.Sender, Federation: w.Headers.Federation}
	for _, hop := range w.Headers.SeenBy {
		if len(hop) != 3 {
			return nil, Errorf(KindMalformed, "seen-by entry has %d elements, want 3", len(hop))
		}
		t.SeenBy = append(t.SeenBy, [3]string{hop[0], hop[1], hop[2]})
	}
	return t, nil
}

// ---------------------------------------------------------- secure request

type wireSecureRequest struct {
	Protocol  string  `json:"protocol"`
	Message   *string `json:"message"`
	Signature *string `json:"signature"`
	PubCert   *string `json:"pubcert"`
}

// EncodeSecureRequest serialises s. With s.Insecure the signature and
// pubcert fields carry the literal "insecure".
func EncodeSecureRequest(s *SecureRequest) ([]byte, error) {
	b := make([]byte, 0, 96+len(s.Message)*5/4+b64.EncodedLen(len(s.Signature))+len(s.PubCert)*11/10)
	b = append(b, `{"protocol":"`+SecureRequestV1+`","message":`...)
	var ok bool
	if b, ok = appendString(b, s.Message); !ok {
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
	if b, ok = appendString(b, s.PubCert); !ok {
		return nil, Errorf(KindMalformed, "certificate is not valid UTF-8")
	}
	return append(b, '}'), nil
}

// DecodeSecureRequest parses a secure request. Message keeps the exact
// signed bytes.
func DecodeSecureRequest(data []byte) (*SecureRequest, error) {
	var w wireSecureRequest
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, Wrap(KindMalformed, err, "secure request is not valid JSON")
	}
	if w.Protocol != SecureRequestV1 {
		return nil, Errorf(KindUnknownProtocol, "unknown secure request protocol %q", w.Protocol)
	}
	switch {
	case w.Message == nil || *w.Message == "":
		return nil, Errorf(KindMalformed, "secure request has no message")
	case w.Signature == nil || *w.Signature == "":
		return nil, Errorf(KindMalformed, "secure request has no signature")
	case w.PubCert == nil || *w.PubCert == "":
		return nil, Errorf(KindMalformed, "secure request has no pubcert")
	}
	s := &SecureRequest{Message: []byte(*w.Message)}
	if *w.Signature == insecureMarker && *w.PubCert == insecureMarker {
		s.Insecure = true
		return s, nil
	}
	sig, err := b64.DecodeString(*w.Signature)
	if err != nil {
		return nil, Wrap(KindMalformed, err, "signature is not valid base64")
	}
	s.Signature = sig
	s.PubCert = []byte(*w.PubCert)
	return s, nil
}

// ------------------------------------------------------------------ request

type wireEnvelope struct {
	RequestID  string  `json:"requestid"`
	SenderID   string  `json:"senderid"`
	CallerID   string  `json:"callerid"`
	Collective string  `json:"collective"`
	Agent      string  `json:"agent"`
	TTL        *int    `json:"ttl"`
	Time       *int64  `json:"time"`
	Filter     *Filter `json:"filter"`
}

type wireRequest struct {
	Protocol string        `json:"protocol"`
	Message  *string       `json:"message"`
	Envelope *wireEnvelope `json:"envelope"`
}

// EncodeRequest serialises r into the bytes that get signed.
func EncodeRequest(r *Request) ([]byte, error) {
	filter, err := json.Marshal(&r.Filter)
	if err != nil {
		return nil, Wrap(KindMalformed, err, "encode filter")
	}
	b := make([]byte, 0, 256+len(r.Message)*5/4+len(filter))
	b = append(b, `{"protocol":"`+RequestV1+`","message":`...)
	ok := true
	b, ok = appendString(b, r.Message)
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
		b, good = appendString(b, kv[1])
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

// DecodeRequest parses and validates the signed request bytes
// (PROTOCOL.md §4). It does not check time windows or ttl bounds, which
// depend on the node's clock and settings.
func DecodeRequest(data []byte) (*Request, error) {
	var w wireRequest
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, Wrap(KindMalformed, err, "request is not valid JSON")
	}
	if w.Protocol != RequestV1 {
		return nil, Errorf(KindUnknownProtocol, "unknown request protocol %q", w.Protocol)
	}
	if w.Message == nil || *w.Message == "" {
		return nil, Errorf(KindMalformed, "request has no message")
	}
	e := w.Envelope
	if e == nil {
		return nil, Errorf(KindMalformed, "request has no envelope")
	}
	switch {
	case len(e.RequestID) != 32:
		return nil, Errorf(KindMalformed, "request id %q is not 32 characters", e.RequestID)
	case e.CallerID == "":
		return nil, Errorf(KindMalformed, "request %s has no callerid", e.RequestID)
	case e.Collective == "":
		return nil, Errorf(KindMalformed, "request %s has no collective", e.RequestID)
	case e.Agent == "":
		return nil, Errorf(KindMalformed, "request %s has no agent", e.RequestID)
	case e.TTL == nil:
		return nil, Errorf(KindMalformed, "request %s has no ttl", e.RequestID)
	case e.Time == nil:
		return nil, Errorf(KindMalformed, "request %s has no time", e.RequestID)
	case e.Filter == nil:
		return nil, Errorf(KindMalformed, "request %s has no filter", e.RequestID)
	case *e.TTL < MinTTL:
		return nil, Errorf(KindTTL, "request %s has ttl %d, the minimum is %d", e.RequestID, *e.TTL, MinTTL)
	}
	if err := e.Filter.validate(); err != nil {
		return nil, Wrap(KindMalformed, err, "request %s has an invalid filter", e.RequestID)
	}
	return &Request{
		ID: e.RequestID, SenderID: e.SenderID, CallerID: e.CallerID, Collective: e.Collective,
		Agent: e.Agent, TTL: *e.TTL, Time: *e.Time, Filter: *e.Filter, Message: *w.Message,
	}, nil
}

// PayloadBytes applies the node decoding rule to the agent payload
// (PROTOCOL.md §4.1): a strict standard-base64 decode of the whole
// string if it succeeds, otherwise the string as is.
func (r *Request) PayloadBytes() []byte {
	if dec, err := b64.Strict().DecodeString(r.Message); err == nil {
		return dec
	}
	return []byte(r.Message)
}

// ------------------------------------------------------------- secure reply

type wireSecureReply struct {
	Protocol  string  `json:"protocol"`
	Message   *string `json:"message"`
	Hash      *string `json:"hash"`
	Signature string  `json:"signature"`
	PubCert   string  `json:"pubcert"`
}

// EncodeSecureReply serialises s. Hash is computed from Message when empty.
func EncodeSecureReply(s *SecureReply) ([]byte, error) {
	hash := s.Hash
	if len(hash) == 0 {
		sum := sha256.Sum256(s.Message)
		hash = sum[:]
	}
	b := make([]byte, 0, 128+len(s.Message)*5/4+b64.EncodedLen(len(s.Signature))+len(s.PubCert)*11/10)
	b = append(b, `{"protocol":"`+SecureReplyV1+`","message":`...)
	var ok bool
	if b, ok = appendString(b, s.Message); !ok {
		return nil, Errorf(KindMalformed, "reply message is not valid UTF-8")
	}
	b = append(b, `,"hash":"`...)
	b = b64.AppendEncode(b, hash)
	b = append(b, '"')
	if len(s.Signature) > 0 {
		b = append(b, `,"signature":"`...)
		b = b64.AppendEncode(b, s.Signature)
		b = append(b, `","pubcert":`...)
		if b, ok = appendString(b, s.PubCert); !ok {
			return nil, Errorf(KindMalformed, "certificate is not valid UTF-8")
		}
	}
	return append(b, '}'), nil
}

// DecodeSecureReply parses a secure reply and checks its hash. A hash
// mismatch is a KindSignature error. The tutti signature, when present,
// is decoded but not verified here.
func DecodeSecureReply(data []byte) (*SecureReply, error) {
	var w wireSecureReply
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, Wrap(KindMalformed, err, "secure reply is not valid JSON")
	}
	if w.Protocol != SecureReplyV1 {
		return nil, Errorf(KindUnknownProtocol, "unknown secure reply protocol %q", w.Protocol)
	}
	if w.Message == nil || *w.Message == "" {
		return nil, Errorf(KindMalformed, "secure reply has no message")
	}
	if w.Hash == nil || *w.Hash == "" {
		return nil, Errorf(KindMalformed, "secure reply has no hash")
	}
	hash, err := b64.DecodeString(*w.Hash)
	if err != nil {
		return nil, Wrap(KindMalformed, err, "reply hash is not valid base64")
	}
	s := &SecureReply{Message: []byte(*w.Message), Hash: hash}
	sum := sha256.Sum256(s.Message)
	if subtle.ConstantTimeCompare(sum[:], hash) != 1 {
		return nil, Errorf(KindSignature, "reply hash does not match its message")
	}
	if w.Signature != "" {
		if s.Signature, err = b64.DecodeString(w.Signature); err != nil {
			return nil, Wrap(KindMalformed, err, "reply signature is not valid base64")
		}
		if w.PubCert == "" {
			return nil, Errorf(KindMalformed, "signed reply has no pubcert")
		}
		s.PubCert = []byte(w.PubCert)
	}
	return s, nil
}

// -------------------------------------------------------------------- reply

type wireReply struct {
	Protocol string  `json:"protocol"`
	Message  *string `json:"message"`
	Envelope *struct {
		RequestID string `json:"requestid"`
		SenderID  string `json:"senderid"`
		Agent     string `json:"agent"`
		Time      int64  `json:"time"`
	} `json:"envelope"`
}

// EncodeReply serialises r into the bytes that get hashed and signed.
func EncodeReply(r *Reply) ([]byte, error) {
	b := make([]byte, 0, 160+len(r.Message)*5/4)
	b = append(b, `{"protocol":"`+ReplyV1+`","message":`...)
	ok := true
	b, ok = appendString(b, r.Message)
	b = append(b, `,"envelope":{"requestid":`...)
	var o2, o3, o4 bool
	b, o2 = appendString(b, r.RequestID)
	b = append(b, `,"senderid":`...)
	b, o3 = appendString(b, r.SenderID)
	b = append(b, `,"agent":`...)
	b, o4 = appendString(b, r.Agent)
	if !(ok && o2 && o3 && o4) {
		return nil, Errorf(KindMalformed, "reply contains invalid UTF-8")
	}
	b = append(b, `,"time":`...)
	b = appendInt(b, r.Time)
	return append(b, "}}"...), nil
}

// DecodeReply parses and validates a reply.
func DecodeReply(data []byte) (*Reply, error) {
	var w wireReply
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, Wrap(KindMalformed, err, "reply is not valid JSON")
	}
	if w.Protocol != ReplyV1 {
		return nil, Errorf(KindUnknownProtocol, "unknown reply protocol %q", w.Protocol)
	}
	if w.Message == nil || *w.Message == "" {
		return nil, Errorf(KindMalformed, "reply has no message")
	}
	e := w.Envelope
	switch {
	case e == nil:
		return nil, Errorf(KindMalformed, "reply has no envelope")
	case len(e.RequestID) != 32:
		return nil, Errorf(KindMalformed, "reply request id %q is not 32 characters", e.RequestID)
	case e.SenderID == "":
		return nil, Errorf(KindMalformed, "reply has no senderid")
	case e.Agent == "":
		return nil, Errorf(KindMalformed, "reply has no agent")
	}
	return &Reply{RequestID: e.RequestID, SenderID: e.SenderID, Agent: e.Agent, Time: e.Time, Message: *w.Message}, nil
}

// ---------------------------------------------------------------- payloads

// DecodeRPCRequest parses an RPC agent payload (after PayloadBytes).
func DecodeRPCRequest(payload []byte) (*RPCRequest, error) {
	var r RPCRequest
	if err := json.Unmarshal(payload, &r); err != nil {
		return nil, Wrap(KindMalformed, err, "request payload is not valid RPC JSON")
	}
	if r.Agent == "" || r.Action == "" {
		return nil, Errorf(KindMalformed, "request payload needs agent and action")
	}
	d := bytes.TrimSpace(r.Data)
	switch {
	case len(d) == 0 || string(d) == "null":
		r.Data = json.RawMessage("{}")
	case d[0] != '{':
		return nil, Errorf(KindMalformed, "request data must be a JSON object")
	}
	return &r, nil
}

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
	b, o1 = appendString(b, r.Action)
	b = append(b, `,"statuscode":`...)
	b = appendInt(b, int64(r.StatusCode))
	b = append(b, `,"statusmsg":`...)
	b, o2 = appendString(b, r.StatusMsg)
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

// DecodeRPCReply parses an RPC reply body.
func DecodeRPCReply(msg []byte) (*RPCReply, error) {
	var r RPCReply
	if err := json.Unmarshal(msg, &r); err != nil {
		return nil, Wrap(KindMalformed, err, "reply body is not valid RPC JSON")
	}
	if len(r.Data) == 0 {
		r.Data = json.RawMessage("{}")
	}
	return &r, nil
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
