package protocol

import (
	"bytes"
	"encoding/json"
	"slices"
)

// Decoders of the v1 layers. Each layer is read into a small document
// struct by the scanner of scan.go, one table of Fields per object (no
// reflection, the big strings taken without a copy where they are only
// compared or base64-decoded) or, when the scanner declines, by
// encoding/json; the same finish method then validates the document, so
// both paths refuse with the same kind and message. The fast parameter
// exists for the differential fuzz tests.

// ---------------------------------------------------------------- transport

// DecodeTransport parses a transport message of at most maxSize bytes
// (0 means DefaultMaxMessageSize).
func DecodeTransport(msg []byte, maxSize int) (*Transport, error) {
	return decodeTransport(msg, maxSize, true)
}

type transportDoc struct {
	protocol   []byte
	data       []byte // base64 text
	headers    bool
	replyTo    string
	sender     string
	seenBy     [][]string
	federation json.RawMessage
}

func decodeTransport(msg []byte, maxSize int, fast bool) (*Transport, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxMessageSize
	}
	if len(msg) > maxSize {
		return nil, Errorf(KindTooLarge, "message of %d bytes exceeds the limit of %d bytes", len(msg), maxSize)
	}
	var d transportDoc
	if !fast || !d.scan(msg) {
		if err := d.unmarshal(msg); err != nil {
			return nil, err
		}
	}
	return d.finish()
}

func (d *transportDoc) scan(msg []byte) bool {
	s := NewScanner(msg)
	return s.Fields(
		Field{Key: "protocol", Decode: func() (ok bool) { d.protocol, ok = s.bytesValue(false); return ok }},
		Field{Key: "data", Decode: func() (ok bool) { d.data, ok = s.bytesValue(false); return ok }},
		Field{Key: "headers", Decode: func() bool { d.headers = true; return d.scanHeaders(s) }},
	) && s.End()
}

func (d *transportDoc) scanHeaders(s *Scanner) bool {
	return s.Fields(
		Field{Key: "reply-to", Decode: func() (ok bool) { d.replyTo, ok = s.stringValue(); return ok }},
		Field{Key: "mc_sender", Decode: func() (ok bool) { d.sender, ok = s.stringValue(); return ok }},
		Field{Key: "seen-by", Decode: func() bool {
			d.seenBy = [][]string{}
			return s.array(func() bool {
				hop, ok := s.stringList()
				d.seenBy = append(d.seenBy, hop)
				return ok
			})
		}},
		Field{Key: "federation", Decode: func() (ok bool) { d.federation, ok = s.rawValue(); return ok }},
	)
}

func (d *transportDoc) unmarshal(msg []byte) error {
	var w struct {
		Protocol string  `json:"protocol"`
		Data     *string `json:"data"`
		Headers  *struct {
			ReplyTo    string          `json:"reply-to"`
			Sender     string          `json:"mc_sender"`
			SeenBy     [][]string      `json:"seen-by"`
			Federation json.RawMessage `json:"federation"`
		} `json:"headers"`
	}
	if err := duplicateKey("transport", msg); err != nil {
		return err
	}
	if err := json.Unmarshal(msg, &w); err != nil {
		return Wrap(KindMalformed, err, "transport is not valid JSON")
	}
	*d = transportDoc{protocol: []byte(w.Protocol)}
	if w.Data != nil {
		d.data = []byte(*w.Data)
	}
	if h := w.Headers; h != nil {
		d.headers, d.replyTo, d.sender, d.seenBy, d.federation = true, h.ReplyTo, h.Sender, h.SeenBy, h.Federation
	}
	return nil
}

func (d *transportDoc) finish() (*Transport, error) {
	if string(d.protocol) != TransportV1 {
		return nil, Errorf(KindUnknownProtocol, "unknown transport protocol %q", d.protocol)
	}
	if len(d.data) == 0 {
		return nil, Errorf(KindMalformed, "transport has no data")
	}
	if !d.headers {
		return nil, Errorf(KindMalformed, "transport has no headers")
	}
	data, err := decodeBase64(d.data)
	if err != nil {
		return nil, Wrap(KindMalformed, err, "transport data is not valid base64")
	}
	t := &Transport{Data: data, ReplyTo: d.replyTo, Sender: d.sender, Federation: d.federation}
	for _, hop := range d.seenBy {
		if len(hop) != 3 {
			return nil, Errorf(KindMalformed, "seen-by entry has %d elements, want 3", len(hop))
		}
		t.SeenBy = append(t.SeenBy, [3]string{hop[0], hop[1], hop[2]})
	}
	return t, nil
}

// decodeBase64 is b64.DecodeString without the string.
func decodeBase64(src []byte) ([]byte, error) {
	dst := make([]byte, b64.DecodedLen(len(src)))
	n, err := b64.Decode(dst, src)
	return dst[:n], err
}

// ---------------------------------------------------------- secure request

// DecodeSecureRequest parses a secure request. Message keeps the exact
// signed bytes.
func DecodeSecureRequest(data []byte) (*SecureRequest, error) {
	return decodeSecureRequest(data, true)
}

type secureRequestDoc struct {
	protocol, message, signature, pubcert []byte
}

func decodeSecureRequest(data []byte, fast bool) (*SecureRequest, error) {
	var d secureRequestDoc
	if !fast || !d.scan(data) {
		if err := d.unmarshal(data); err != nil {
			return nil, err
		}
	}
	return d.finish()
}

func (d *secureRequestDoc) scan(data []byte) bool {
	s := NewScanner(data)
	return s.Fields(
		Field{Key: "protocol", Decode: func() (ok bool) { d.protocol, ok = s.bytesValue(false); return ok }},
		Field{Key: "message", Decode: func() (ok bool) { d.message, ok = s.bytesValue(true); return ok }},
		Field{Key: "signature", Decode: func() (ok bool) { d.signature, ok = s.bytesValue(false); return ok }},
		Field{Key: "pubcert", Decode: func() (ok bool) { d.pubcert, ok = s.bytesValue(true); return ok }},
	) && s.End()
}

func (d *secureRequestDoc) unmarshal(data []byte) error {
	var w struct {
		Protocol  string  `json:"protocol"`
		Message   *string `json:"message"`
		Signature *string `json:"signature"`
		PubCert   *string `json:"pubcert"`
	}
	if err := duplicateKey("secure request", data); err != nil {
		return err
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return Wrap(KindMalformed, err, "secure request is not valid JSON")
	}
	*d = secureRequestDoc{protocol: []byte(w.Protocol), message: optBytes(w.Message),
		signature: optBytes(w.Signature), pubcert: optBytes(w.PubCert)}
	return nil
}

func (d *secureRequestDoc) finish() (*SecureRequest, error) {
	if string(d.protocol) != SecureRequestV1 {
		return nil, Errorf(KindUnknownProtocol, "unknown secure request protocol %q", d.protocol)
	}
	switch {
	case len(d.message) == 0:
		return nil, Errorf(KindMalformed, "secure request has no message")
	case len(d.signature) == 0:
		return nil, Errorf(KindMalformed, "secure request has no signature")
	case len(d.pubcert) == 0:
		return nil, Errorf(KindMalformed, "secure request has no pubcert")
	}
	s := &SecureRequest{Message: d.message}
	if string(d.signature) == insecureMarker && string(d.pubcert) == insecureMarker {
		s.Insecure = true
		return s, nil
	}
	sig, err := decodeBase64(d.signature)
	if err != nil {
		return nil, Wrap(KindMalformed, err, "signature is not valid base64")
	}
	s.Signature = sig
	s.PubCert = d.pubcert
	return s, nil
}

func optBytes(s *string) []byte {
	if s == nil {
		return nil
	}
	return []byte(*s)
}

// ------------------------------------------------------------------ request

// DecodeRequest parses and validates the signed request bytes
// (docs/protocol.md §4). It does not check time windows or ttl bounds, which
// depend on the node's clock and settings.
func DecodeRequest(data []byte) (*Request, error) {
	return decodeRequest(data, true)
}

type requestDoc struct {
	protocol                           []byte
	message                            string
	envelope, hasTTL, hasTime, hasFilt bool
	id, sender, caller, collective     string
	agent                              string
	ttl                                int
	time                               int64
	filter                             Filter
	rawFilter                          []byte
}

func decodeRequest(data []byte, fast bool) (*Request, error) {
	var d requestDoc
	if !fast || !d.scan(data) {
		if err := d.unmarshal(data); err != nil {
			return nil, err
		}
	}
	return d.finish()
}

func (d *requestDoc) scan(data []byte) bool {
	s := NewScanner(data)
	return s.Fields(
		Field{Key: "protocol", Decode: func() (ok bool) { d.protocol, ok = s.bytesValue(false); return ok }},
		Field{Key: "message", Decode: func() (ok bool) { d.message, ok = s.stringValue(); return ok }},
		Field{Key: "envelope", Decode: func() bool { d.envelope = true; return d.scanEnvelope(s) }},
	) && s.End()
}

// scanEnvelope reads the envelope. Which members a request needs is
// finish's business: it words the refusal for both paths.
func (d *requestDoc) scanEnvelope(s *Scanner) bool {
	return s.Fields(
		Field{Key: "requestid", Decode: func() (ok bool) { d.id, ok = s.stringValue(); return ok }},
		Field{Key: "senderid", Decode: func() (ok bool) { d.sender, ok = s.stringValue(); return ok }},
		Field{Key: "callerid", Decode: func() (ok bool) { d.caller, ok = s.stringValue(); return ok }},
		Field{Key: "collective", Decode: func() (ok bool) { d.collective, ok = s.stringValue(); return ok }},
		Field{Key: "agent", Decode: func() (ok bool) { d.agent, ok = s.stringValue(); return ok }},
		Field{Key: "ttl", Decode: func() bool {
			n, ok := s.integer()
			d.ttl, d.hasTTL = int(n), true
			return ok && int64(d.ttl) == n
		}},
		Field{Key: "time", Decode: func() (ok bool) { d.time, ok = s.integer(); d.hasTime = true; return ok }},
		Field{Key: "filter", Decode: func() (ok bool) {
			start := s.i
			d.filter, ok = s.filter()
			d.rawFilter, d.hasFilt = bytes.TrimLeft(s.b[start:s.i], " \t\r\n"), true
			return ok
		}},
	)
}

// filter scans a filter object; keys of no selector are recorded in
// Unknown. The lists the v1 schema requires are Required, so a filter
// without one goes to Filter.UnmarshalJSON, which words the refusal; so
// do compound entries (only an empty compound list is read here).
func (s *Scanner) filter() (f Filter, ok bool) {
	ok = s.fields(func(k []byte) { f.Unknown = append(f.Unknown, string(k)) }, []Field{
		{Key: "fact", Required: true, Decode: func() bool {
			f.Fact = []FactFilter{}
			return s.array(func() bool {
				ff, ok := s.factFilter()
				f.Fact = append(f.Fact, ff)
				return ok
			})
		}},
		{Key: "cf_class", Required: true, Decode: func() (ok bool) { f.CFClass, ok = s.stringList(); return ok }},
		{Key: "agent", Decode: func() (ok bool) { f.Agent, ok = s.stringList(); return ok }},
		{Key: "identity", Required: true, Decode: func() (ok bool) { f.Identity, ok = s.stringList(); return ok }},
		{Key: "compound", Required: true, Decode: func() bool {
			f.Compound = [][]CompoundEntry{}
			return s.array(func() bool { return false })
		}},
	})
	return f, ok
}

func (s *Scanner) factFilter() (f FactFilter, ok bool) {
	ok = s.Fields(
		Field{Key: "fact", Decode: func() (ok bool) { f.Fact, ok = s.stringValue(); return ok }},
		Field{Key: "operator", Decode: func() (ok bool) { f.Operator, ok = s.stringValue(); return ok }},
		Field{Key: "value", Decode: func() (ok bool) { f.Value, ok = s.stringValue(); return ok }},
	)
	return f, ok
}

func (d *requestDoc) unmarshal(data []byte) error {
	var w struct {
		Protocol string  `json:"protocol"`
		Message  *string `json:"message"`
		Envelope *struct {
			RequestID  string          `json:"requestid"`
			SenderID   string          `json:"senderid"`
			CallerID   string          `json:"callerid"`
			Collective string          `json:"collective"`
			Agent      string          `json:"agent"`
			TTL        *int            `json:"ttl"`
			Time       *int64          `json:"time"`
			Filter     json.RawMessage `json:"filter"`
		} `json:"envelope"`
	}
	if err := duplicateKey("request", data); err != nil {
		return err
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return Wrap(KindMalformed, err, "request is not valid JSON")
	}
	*d = requestDoc{protocol: []byte(w.Protocol)}
	if w.Message != nil {
		d.message = *w.Message
	}
	e := w.Envelope
	if e == nil {
		return nil
	}
	d.envelope = true
	d.id, d.sender, d.caller, d.collective, d.agent = e.RequestID, e.SenderID, e.CallerID, e.Collective, e.Agent
	if e.TTL != nil {
		d.ttl, d.hasTTL = *e.TTL, true
	}
	if e.Time != nil {
		d.time, d.hasTime = *e.Time, true
	}
	if len(e.Filter) > 0 && string(e.Filter) != "null" {
		// into a local: &d.filter given to encoding/json would move every
		// requestDoc to the heap, also on the scanner path
		var f Filter
		if err := json.Unmarshal(e.Filter, &f); err != nil {
			return Wrap(KindMalformed, err, "request is not valid JSON")
		}
		d.filter, d.rawFilter, d.hasFilt = f, e.Filter, true
	}
	return nil
}

func (d *requestDoc) finish() (*Request, error) {
	if string(d.protocol) != RequestV1 {
		return nil, Errorf(KindUnknownProtocol, "unknown request protocol %q", d.protocol)
	}
	if d.message == "" {
		return nil, Errorf(KindMalformed, "request has no message")
	}
	if !d.envelope {
		return nil, Errorf(KindMalformed, "request has no envelope")
	}
	switch {
	case !ValidRequestID(d.id):
		return nil, Errorf(KindMalformed, "request id %q is not 32 lower-case hex characters (callerid %q)", d.id, d.caller)
	case d.caller == "":
		return nil, Errorf(KindMalformed, "request %s has no callerid", d.id)
	case d.collective == "":
		return nil, Errorf(KindMalformed, "request %s has no collective", d.id)
	case d.agent == "":
		return nil, Errorf(KindMalformed, "request %s has no agent", d.id)
	case !d.hasTTL:
		return nil, Errorf(KindMalformed, "request %s has no ttl", d.id)
	case !d.hasTime:
		return nil, Errorf(KindMalformed, "request %s has no time", d.id)
	case !d.hasFilt:
		return nil, Errorf(KindMalformed, "request %s has no filter", d.id)
	case d.ttl < MinTTL:
		return nil, Errorf(KindTTL, "request %s has ttl %d, the minimum is %d", d.id, d.ttl, MinTTL)
	}
	if err := d.filter.validate(); err != nil {
		return nil, Wrap(KindMalformed, err, "request %s (callerid %q) has an invalid filter", d.id, d.caller)
	}
	slices.Sort(d.filter.Unknown) // document order on the fast path, map order on the other
	return &Request{
		ID: d.id, SenderID: d.sender, CallerID: d.caller, Collective: d.collective,
		Agent: d.agent, TTL: d.ttl, Time: d.time, Filter: d.filter, RawFilter: d.rawFilter, Message: d.message,
	}, nil
}

// ValidRequestID reports whether id is what Choria and tutti send: 32
// lower-case hex characters (a UUID without dashes). Anything else is
// refused, so an id is safe in file names, subjects and logs.
func ValidRequestID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------- payloads

// DecodeRPCRequest parses an RPC agent payload (after PayloadBytes).
func DecodeRPCRequest(payload []byte) (*RPCRequest, error) {
	return decodeRPCRequest(payload, true)
}

func decodeRPCRequest(payload []byte, fast bool) (*RPCRequest, error) {
	var r RPCRequest
	if !fast || !r.scan(payload) {
		r = RPCRequest{}
		if err := duplicateKey("request payload", payload); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(payload, &r); err != nil {
			return nil, Wrap(KindMalformed, err, "request payload is not valid RPC JSON")
		}
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

func (r *RPCRequest) scan(payload []byte) bool {
	s := NewScanner(payload)
	return s.Fields(
		Field{Key: "agent", Decode: func() (ok bool) { r.Agent, ok = s.stringValue(); return ok }},
		Field{Key: "action", Decode: func() (ok bool) { r.Action, ok = s.stringValue(); return ok }},
		Field{Key: "data", Decode: func() (ok bool) { r.Data, ok = s.rawValue(); return ok }},
		Field{Key: "approval", Decode: func() (ok bool) { r.Approval, ok = s.rawValue(); return ok }},
	) && s.End()
}
