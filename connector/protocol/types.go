package protocol

import "encoding/json"

// Protocol ids of Choria v1.
const (
	TransportV1     = "choria:transport:1"
	SecureRequestV1 = "choria:secure:request:1"
	RequestV1       = "choria:request:1"
	SecureReplyV1   = "choria:secure:reply:1"
	ReplyV1         = "choria:reply:1"
)

// MinTTL is the smallest ttl the v1 schema allows.
const MinTTL = 30

// DefaultMaxMessageSize is the default cap on a transport message, in bytes.
const DefaultMaxMessageSize = 4 << 20

// Transport is the outer layer (choria:transport:1). Nothing in it is signed.
type Transport struct {
	// Data is the decoded (not base64) secure request or secure reply.
	Data []byte
	// ReplyTo is where the node publishes its reply (requests only).
	ReplyTo string
	// Sender is mc_sender: the unauthenticated identity of the sender.
	Sender string
	// SeenBy is the hop trace, each entry [in, identity, out].
	SeenBy [][3]string
	// Federation is passed through untouched when present.
	Federation json.RawMessage
}

// SecureRequest is choria:secure:request:1.
type SecureRequest struct {
	// Message is the exact bytes of the serialised choria:request:1 that
	// were signed.
	Message []byte
	// Signature is the decoded signature over Message.
	Signature []byte
	// PubCert is the PEM of the signer's certificate, leaf first,
	// optionally followed by intermediates.
	PubCert []byte
	// Insecure is true when signature and pubcert are the literal
	// "insecure" (only valid for requests to the aaa_signer service).
	Insecure bool
}

// Request is choria:request:1: the envelope and the agent payload.
type Request struct {
	ID         string // 32 characters
	SenderID   string // unauthenticated sender identity
	CallerID   string // <kind>=<name>, bound to the signing certificate
	Collective string
	Agent      string
	TTL        int   // seconds
	Time       int64 // Unix seconds at creation
	Filter     Filter
	// RawFilter is the filter exactly as signed: a slice of the bytes the
	// request was decoded from (do not modify them), for records that
	// must show what was signed rather than a re-encoding of Filter.
	RawFilter []byte
	// Message is the agent payload: RPC JSON, or "cGluZw==" for discovery.
	// Use PayloadBytes to apply the node decoding rule.
	Message string
}

// Filter selects nodes (docs/protocol.md §13). The zero value matches every node.
type Filter struct {
	Fact     []FactFilter      `json:"fact"`
	CFClass  []string          `json:"cf_class"`
	Agent    []string          `json:"agent"`
	Identity []string          `json:"identity"`
	Compound [][]CompoundEntry `json:"compound"`
	// Unknown lists the keys of the filter object that are none of the
	// above, as received. A filter with selectors a node does not
	// understand selects no node (fail closed); they are never encoded.
	Unknown []string `json:"-"`
}

// FactFilter is one fact comparison.
type FactFilter struct {
	Fact     string `json:"fact"`
	Operator string `json:"operator"`
	Value    string `json:"value"`
}

// CompoundEntry is one element of a compound filter expression. Choria
// sends {"expr": "..."}; MCollective token lists use other keys, kept in
// Raw.
type CompoundEntry struct {
	Expr string `json:"expr,omitempty"`
	// Raw holds entries that are not {"expr": ...} (MCollective's token
	// lists); they are preserved so a re-encoded filter loses nothing.
	Raw map[string]json.RawMessage `json:"-"`
}

// Empty reports whether the filter has no entries at all.
func (f *Filter) Empty() bool {
	return len(f.Fact) == 0 && len(f.CFClass) == 0 && len(f.Agent) == 0 &&
		len(f.Identity) == 0 && len(f.Compound) == 0 && len(f.Unknown) == 0
}

// SecureReply is choria:secure:reply:1, with tutti's signature extension.
type SecureReply struct {
	// Message is the exact bytes of the serialised choria:reply:1.
	Message []byte
	// Hash is the decoded SHA-256 of Message.
	Hash []byte
	// Signature is the node's signature over Message (tutti extension;
	// empty from Choria nodes).
	Signature []byte
	// PubCert is the PEM of the node's certificate (tutti extension).
	PubCert []byte
}

// Reply is choria:reply:1.
type Reply struct {
	RequestID string
	SenderID  string
	Agent     string
	Time      int64
	// Message is the agent's reply text: RPC reply JSON, or "pong".
	Message string
}

// RPCRequest is the SimpleRPC agent payload.
type RPCRequest struct {
	Agent  string          `json:"agent"`
	Action string          `json:"action"`
	Data   json.RawMessage `json:"data"`
	// Approval is tutti-aaa's record of a second person's approval
	// ({"id","requester","approver"}), which it adds to the payload it
	// signs after an approval. Nodes trust it only from a privileged
	// signer, and write it to their audit record; others ignore it.
	Approval json.RawMessage `json:"approval,omitempty"`
}

// StatusCode is an RPC reply status (docs/protocol.md §14.3).
type StatusCode int

// RPC status codes.
const (
	OK            StatusCode = 0
	Aborted       StatusCode = 1
	UnknownAction StatusCode = 2
	MissingData   StatusCode = 3
	InvalidData   StatusCode = 4
	UnknownError  StatusCode = 5
)

// String is the Choria CLI label of the status.
func (s StatusCode) String() string {
	switch s {
	case OK:
		return "OK"
	case Aborted:
		return "Request Aborted"
	case UnknownAction:
		return "Unknown Action"
	case MissingData:
		return "Missing Request Data"
	case InvalidData:
		return "Invalid Request Data"
	case UnknownError:
		return "Unknown Request Status"
	}
	return "Unknown Status"
}

// RPCReply is the body of a reply from an RPC agent.
type RPCReply struct {
	Action     string          `json:"action"`
	StatusCode StatusCode      `json:"statuscode"`
	StatusMsg  string          `json:"statusmsg"`
	Data       json.RawMessage `json:"data"`
}

// CertificateRevokedMsg begins the reply text a node sends the holder of
// a revoked certificate (status Aborted), followed by ": " and the reason.
const CertificateRevokedMsg = "certificate revoked"

// NotAuthorizedMsg is the reply text for a denied request (Choria's wording).
const NotAuthorizedMsg = "You are not authorized to call this agent or action"

// DiscoveryAgent is the agent a discovery request names. The node
// answers it in its pipeline, before authorization and audit; it is not
// an RPC agent.
const DiscoveryAgent = "discovery"

// DiscoveryPayload is what clients send to the discovery agent: base64 of "ping".
const DiscoveryPayload = "cGluZw=="
