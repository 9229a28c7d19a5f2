// Package protocol is tutti's vocabulary: the plain Go structs that every
// other package uses for requests, replies and filters, and the wire codec
// that turns them into and out of Choria's protocol v1 JSON layers.
//
// A request on the wire is four nested JSON documents:
//
//	choria:transport:1        routing headers (reply-to, sender, hop trace), unsigned
//	└─ data (base64)
//	   choria:secure:request:1   signature + PEM certificate of the signer
//	   └─ message (JSON string)
//	      choria:request:1       envelope: ids, caller, collective, agent, ttl, time, filter
//	      └─ message (JSON string)
//	         agent payload       {"agent":"rpcutil","action":"ping","data":{}}
//
// A reply is transport → choria:secure:reply:1 → choria:reply:1 → the agent's
// reply text. tutti adds two fields to the secure reply, signature and
// pubcert, so a client can tell which node produced a reply (docs/protocol.md §5).
//
// The rules this package enforces:
//
//   - Signed bytes are kept exactly as received. SecureRequest.Message and
//     SecureReply.Message hold the decoded string value, and a verifier works
//     on those bytes; nothing is ever re-serialised before verification.
//   - Every layer's protocol id is compared for equality; unknown ids are
//     refused with ErrUnknownProtocol.
//   - Validation is done in code, once per message, with no JSON schema.
//     Each layer is read by a small hand-written scanner (scan.go); when
//     it meets anything it is not certain encoding/json would read the
//     same way, the layer is decoded again with encoding/json, so both
//     paths accept, reject and word refusals identically (FuzzFastDecode).
//   - Every refusal is an *Error with a Kind (for errors.Is) and a reason.
//
// The package imports only the standard library, so the rest of tutti can
// depend on it freely.
package protocol
