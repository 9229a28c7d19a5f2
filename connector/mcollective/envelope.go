package mcollective

import (
	"fmt"

	rm "github.com/tuttifleet/tutti/connector/mcollective/rubymarshal"
)

// Request is the outer layer of a request. Only Body is signed (Hash is
// the signature); the rest is as the sender (or the broker) wrote it.
type Request struct {
	Body       []byte
	SenderID   string
	RequestID  string
	Filter     Filter
	Collective string
	Agent      string
	CallerID   string
	TTL        int64
	MsgTime    int64
	Hash       string
}

// Filter is MCollective's filter hash (String keys).
type Filter struct {
	Fact     []FactFilter
	CFClass  []string
	Agent    []string
	Identity []string
	// Compound holds the compound filter's expressions, each a list of
	// one-key tokens in evaluation order (docs/mcollective.md).
	Compound [][]Token
}

// FactFilter is one -F entry.
type FactFilter struct{ Fact, Operator, Value string }

// Token is one element of a compound expression: its kind ("statement",
// "fstatement", "and", "or", "not", "(", ")") and its value (a string,
// or for fstatement the function call's hash).
type Token struct {
	Kind  string
	Value rm.Value
}

// Body is the signed inner layer of a request: Msg is "ping" for
// discovery or the RPC hash.
type Body struct {
	Msg     rm.Value
	TTL     int64
	MsgTime int64
}

// RPC is an RPC request's Msg.
type RPC struct {
	Agent, Action, Caller string
	// Data is the action's input: a Hash with Symbol keys.
	Data *rm.Hash
}

// Reply is the outer layer of a reply; Body is signed (with the nodes'
// shared key in MCollective), the rest is not.
type Reply struct {
	SenderID    string
	RequestID   string
	SenderAgent string
	MsgTime     int64
	Body        []byte
	Hash        string
}

// ReplyBody is an RPC reply's signed body; discovery replies are the
// String "pong" instead.
type ReplyBody struct {
	StatusCode int64
	StatusMsg  string
	Data       rm.Value
}

// DecodeRequest decodes a request's outer layer. Nothing is verified.
func DecodeRequest(s Serializer, b []byte) (*Request, error) {
	v, err := s.Unmarshal(b)
	if err != nil {
		return nil, err
	}
	h, err := asHash(v, "request")
	if err != nil {
		return nil, err
	}
	r := &Request{}
	if r.Body, err = getBytes(h, "body"); err != nil {
		return nil, err
	}
	for key, dst := range map[string]*string{"senderid": &r.SenderID, "requestid": &r.RequestID, "collective": &r.Collective,
		"agent": &r.Agent, "callerid": &r.CallerID, "hash": &r.Hash} {
		if *dst, err = getStr(h, key); err != nil {
			return nil, err
		}
	}
	if r.TTL, err = getInt(h, "ttl"); err != nil {
		return nil, err
	}
	if r.MsgTime, err = getInt(h, "msgtime"); err != nil {
		return nil, err
	}
	if fv, ok := h.Get(rm.Symbol("filter")); ok && fv != nil {
		if r.Filter, err = decodeFilter(fv); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// DecodeBody decodes the signed inner layer of r: call it only on bytes
// whose signature was verified.
func DecodeBody(s Serializer, body []byte) (*Body, error) {
	v, err := s.Unmarshal(body)
	if err != nil {
		return nil, err
	}
	h, err := asHash(v, "request body")
	if err != nil {
		return nil, err
	}
	msg, ok := h.Get(rm.Symbol("ssl_msg"))
	if !ok {
		return nil, fmt.Errorf("%w: body has no :ssl_msg", ErrDecode)
	}
	b := &Body{Msg: msg}
	if b.TTL, err = getInt(h, "ssl_ttl"); err != nil {
		return nil, err
	}
	if b.MsgTime, err = getInt(h, "ssl_msgtime"); err != nil {
		return nil, err
	}
	return b, nil
}

// RPC returns the body's RPC request, or ok false when Msg is not one
// (discovery's "ping").
func (b *Body) RPC() (*RPC, bool, error) {
	h, ok := b.Msg.(*rm.Hash)
	if !ok {
		return nil, false, nil
	}
	r := &RPC{}
	var err error
	for key, dst := range map[string]*string{"agent": &r.Agent, "action": &r.Action, "caller": &r.Caller} {
		if *dst, err = getStr(h, key); err != nil {
			return nil, true, err
		}
	}
	r.Data = &rm.Hash{}
	if d, ok := h.Get(rm.Symbol("data")); ok && d != nil {
		if r.Data, err = asHash(d, ":data"); err != nil {
			return nil, true, err
		}
	}
	return r, true, nil
}

// EncodeBody serializes a request's inner layer (the bytes to sign).
func EncodeBody(s Serializer, b *Body) ([]byte, error) {
	return s.Marshal(rm.Sym("ssl_msg", b.Msg, "ssl_ttl", b.TTL, "ssl_msgtime", b.MsgTime))
}

// RPCMsg is the Msg of an RPC request.
func RPCMsg(r *RPC) rm.Value {
	data := r.Data
	if data == nil {
		data = &rm.Hash{}
	}
	return rm.Sym("agent", r.Agent, "action", r.Action, "caller", r.Caller, "data", data)
}

// EncodeRequest serializes a request's outer layer, keys in the order
// MCollective writes them.
func EncodeRequest(s Serializer, r *Request) ([]byte, error) {
	return s.Marshal(rm.Sym("body", r.Body, "senderid", r.SenderID, "requestid", rm.ASCII(r.RequestID),
		"filter", encodeFilter(&r.Filter), "collective", r.Collective, "agent", r.Agent, "callerid", r.CallerID,
		"ttl", r.TTL, "msgtime", r.MsgTime, "hash", rm.ASCII(r.Hash)))
}

// DecodeReply decodes a reply's outer layer. Nothing is verified.
func DecodeReply(s Serializer, b []byte) (*Reply, error) {
	v, err := s.Unmarshal(b)
	if err != nil {
		return nil, err
	}
	h, err := asHash(v, "reply")
	if err != nil {
		return nil, err
	}
	r := &Reply{}
	if r.Body, err = getBytes(h, "body"); err != nil {
		return nil, err
	}
	for key, dst := range map[string]*string{"senderid": &r.SenderID, "requestid": &r.RequestID,
		"senderagent": &r.SenderAgent, "hash": &r.Hash} {
		if *dst, err = getStr(h, key); err != nil {
			return nil, err
		}
	}
	if r.MsgTime, err = getInt(h, "msgtime"); err != nil {
		return nil, err
	}
	return r, nil
}

// EncodeReply serializes a reply's outer layer.
func EncodeReply(s Serializer, r *Reply) ([]byte, error) {
	return s.Marshal(rm.Sym("senderid", r.SenderID, "requestid", rm.ASCII(r.RequestID), "senderagent", r.SenderAgent,
		"msgtime", r.MsgTime, "body", r.Body, "hash", rm.ASCII(r.Hash)))
}

// EncodeReplyBody serializes an RPC reply body (the bytes to sign).
func EncodeReplyBody(s Serializer, b *ReplyBody) ([]byte, error) {
	return s.Marshal(rm.Sym("statuscode", b.StatusCode, "statusmsg", b.StatusMsg, "data", b.Data))
}

// DecodeReplyBody decodes a verified reply body: an RPC reply, or
// (ok false) discovery's "pong".
func DecodeReplyBody(s Serializer, body []byte) (rb *ReplyBody, pong bool, err error) {
	v, err := s.Unmarshal(body)
	if err != nil {
		return nil, false, err
	}
	if str, ok := rm.Str(v); ok {
		if str != "pong" {
			return nil, false, fmt.Errorf("%w: reply body is the String %q", ErrDecode, str)
		}
		return nil, true, nil
	}
	h, err := asHash(v, "reply body")
	if err != nil {
		return nil, false, err
	}
	rb = &ReplyBody{}
	if rb.StatusCode, err = getInt(h, "statuscode"); err != nil {
		return nil, false, err
	}
	if rb.StatusMsg, err = getStr(h, "statusmsg"); err != nil {
		return nil, false, err
	}
	rb.Data, _ = h.Get(rm.Symbol("data"))
	return rb, false, nil
}
