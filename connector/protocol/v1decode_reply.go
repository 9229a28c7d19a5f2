package protocol

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
)

// Decoders of the reply layers; see v1decode.go for how they work.

// ------------------------------------------------------------- secure reply

// DecodeSecureReply parses a secure reply and checks its hash. A hash
// mismatch is a KindSignature error. The tutti signature, when present,
// is decoded but not verified here.
func DecodeSecureReply(data []byte) (*SecureReply, error) {
	return decodeSecureReply(data, true)
}

type secureReplyDoc struct {
	protocol, message, hash, signature, pubcert []byte
}

func decodeSecureReply(data []byte, fast bool) (*SecureReply, error) {
	var d secureReplyDoc
	if !fast || !d.scan(data) {
		if err := d.unmarshal(data); err != nil {
			return nil, err
		}
	}
	return d.finish()
}

func (d *secureReplyDoc) scan(data []byte) bool {
	s := NewScanner(data)
	return s.Fields(
		Field{Key: "protocol", Decode: func() (ok bool) { d.protocol, ok = s.bytesValue(false); return ok }},
		Field{Key: "message", Decode: func() (ok bool) { d.message, ok = s.bytesValue(true); return ok }},
		Field{Key: "hash", Decode: func() (ok bool) { d.hash, ok = s.bytesValue(false); return ok }},
		Field{Key: "signature", Decode: func() (ok bool) { d.signature, ok = s.bytesValue(false); return ok }},
		Field{Key: "pubcert", Decode: func() (ok bool) { d.pubcert, ok = s.bytesValue(true); return ok }},
	) && s.End()
}

func (d *secureReplyDoc) unmarshal(data []byte) error {
	var w struct {
		Protocol  string  `json:"protocol"`
		Message   *string `json:"message"`
		Hash      *string `json:"hash"`
		Signature string  `json:"signature"`
		PubCert   string  `json:"pubcert"`
	}
	if err := duplicateKey("secure reply", data); err != nil {
		return err
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return Wrap(KindMalformed, err, "secure reply is not valid JSON")
	}
	*d = secureReplyDoc{protocol: []byte(w.Protocol), message: optBytes(w.Message), hash: optBytes(w.Hash),
		signature: []byte(w.Signature), pubcert: []byte(w.PubCert)}
	return nil
}

func (d *secureReplyDoc) finish() (*SecureReply, error) {
	if string(d.protocol) != SecureReplyV1 {
		return nil, Errorf(KindUnknownProtocol, "unknown secure reply protocol %q", d.protocol)
	}
	if len(d.message) == 0 {
		return nil, Errorf(KindMalformed, "secure reply has no message")
	}
	if len(d.hash) == 0 {
		return nil, Errorf(KindMalformed, "secure reply has no hash")
	}
	hash, err := decodeBase64(d.hash)
	if err != nil {
		return nil, Wrap(KindMalformed, err, "reply hash is not valid base64")
	}
	s := &SecureReply{Message: d.message, Hash: hash}
	sum := sha256.Sum256(s.Message)
	if subtle.ConstantTimeCompare(sum[:], hash) != 1 {
		return nil, Errorf(KindSignature, "reply hash does not match its message")
	}
	if len(d.signature) > 0 {
		if s.Signature, err = decodeBase64(d.signature); err != nil {
			return nil, Wrap(KindMalformed, err, "reply signature is not valid base64")
		}
		if len(d.pubcert) == 0 {
			return nil, Errorf(KindMalformed, "signed reply has no pubcert")
		}
		s.PubCert = d.pubcert
	}
	return s, nil
}

// -------------------------------------------------------------------- reply

// DecodeReply parses and validates a reply.
func DecodeReply(data []byte) (*Reply, error) {
	return decodeReply(data, true)
}

type replyDoc struct {
	protocol          []byte
	message           string
	envelope          bool
	id, sender, agent string
	time              int64
}

func decodeReply(data []byte, fast bool) (*Reply, error) {
	var d replyDoc
	if !fast || !d.scan(data) {
		if err := d.unmarshal(data); err != nil {
			return nil, err
		}
	}
	return d.finish()
}

func (d *replyDoc) scan(data []byte) bool {
	s := NewScanner(data)
	return s.Fields(
		Field{Key: "protocol", Decode: func() (ok bool) { d.protocol, ok = s.bytesValue(false); return ok }},
		Field{Key: "message", Decode: func() (ok bool) { d.message, ok = s.stringValue(); return ok }},
		Field{Key: "envelope", Decode: func() bool { d.envelope = true; return d.scanEnvelope(s) }},
	) && s.End()
}

func (d *replyDoc) scanEnvelope(s *Scanner) bool {
	return s.Fields(
		Field{Key: "requestid", Decode: func() (ok bool) { d.id, ok = s.stringValue(); return ok }},
		Field{Key: "senderid", Decode: func() (ok bool) { d.sender, ok = s.stringValue(); return ok }},
		Field{Key: "agent", Decode: func() (ok bool) { d.agent, ok = s.stringValue(); return ok }},
		Field{Key: "time", Decode: func() (ok bool) { d.time, ok = s.integer(); return ok }},
	)
}

func (d *replyDoc) unmarshal(data []byte) error {
	var w struct {
		Protocol string  `json:"protocol"`
		Message  *string `json:"message"`
		Envelope *struct {
			RequestID string `json:"requestid"`
			SenderID  string `json:"senderid"`
			Agent     string `json:"agent"`
			Time      int64  `json:"time"`
		} `json:"envelope"`
	}
	if err := duplicateKey("reply", data); err != nil {
		return err
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return Wrap(KindMalformed, err, "reply is not valid JSON")
	}
	*d = replyDoc{protocol: []byte(w.Protocol)}
	if w.Message != nil {
		d.message = *w.Message
	}
	if e := w.Envelope; e != nil {
		d.envelope, d.id, d.sender, d.agent, d.time = true, e.RequestID, e.SenderID, e.Agent, e.Time
	}
	return nil
}

func (d *replyDoc) finish() (*Reply, error) {
	if string(d.protocol) != ReplyV1 {
		return nil, Errorf(KindUnknownProtocol, "unknown reply protocol %q", d.protocol)
	}
	if d.message == "" {
		return nil, Errorf(KindMalformed, "reply has no message")
	}
	switch {
	case !d.envelope:
		return nil, Errorf(KindMalformed, "reply has no envelope")
	case len(d.id) != 32:
		return nil, Errorf(KindMalformed, "reply request id %q is not 32 characters", d.id)
	case d.sender == "":
		return nil, Errorf(KindMalformed, "reply has no senderid")
	case d.agent == "":
		return nil, Errorf(KindMalformed, "reply has no agent")
	}
	return &Reply{RequestID: d.id, SenderID: d.sender, Agent: d.agent, Time: d.time, Message: d.message}, nil
}

// DecodeRPCReply parses an RPC reply body.
func DecodeRPCReply(msg []byte) (*RPCReply, error) {
	return decodeRPCReply(msg, true)
}

func decodeRPCReply(msg []byte, fast bool) (*RPCReply, error) {
	var r RPCReply
	if !fast || !r.scan(msg) {
		r = RPCReply{}
		if err := duplicateKey("reply body", msg); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(msg, &r); err != nil {
			return nil, Wrap(KindMalformed, err, "reply body is not valid RPC JSON")
		}
	}
	if len(r.Data) == 0 {
		r.Data = json.RawMessage("{}")
	}
	return &r, nil
}

func (r *RPCReply) scan(msg []byte) bool {
	s := NewScanner(msg)
	return s.Fields(
		Field{Key: "action", Decode: func() (ok bool) { r.Action, ok = s.stringValue(); return ok }},
		Field{Key: "statuscode", Decode: func() bool {
			n, ok := s.integer()
			r.StatusCode = StatusCode(n)
			return ok && int64(r.StatusCode) == n
		}},
		Field{Key: "statusmsg", Decode: func() (ok bool) { r.StatusMsg, ok = s.stringValue(); return ok }},
		Field{Key: "data", Decode: func() (ok bool) { r.Data, ok = s.rawValue(); return ok }},
	) && s.End()
}
