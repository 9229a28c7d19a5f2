package server

import (
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/mcollective"
	rm "github.com/tuttifleet/tutti/connector/mcollective/rubymarshal"
	"github.com/tuttifleet/tutti/connector/protocol"
)

// MCollective puts a node in MCollective 2.12 mode (securityprovider =
// ssl, docs/mcollective.md): requests are MCollective's two-layer ssl
// plugin messages, verified by the node's Verifier (security/mcossl)
// with the caller's key; replies are signed with the fleet's server key.
//
// After decoding, a request runs the same pipeline as a Choria one:
// collective, arrival destination, max_ttl, signature, the two-sided
// time window, the replay cache, filter limits and filter, DDL
// validation, ActionPolicy, audit, the action. What MCollective leaves
// unsigned is checked against what it signs or treated as a hint
// (docs/protocol.md §15.8): the signed agent must equal the routing one
// (W2), the signed caller the callerid that chose the key, the signed
// ttl and time the outer ones; the replay cache is keyed on the signed
// body, since the request id is not signed (W3, W5).
type MCollective struct {
	// Serializer is plugin.ssl_serializer's.
	Serializer mcollective.Serializer
	// ServerKey signs replies (plugin.ssl_server_private).
	ServerKey *rsa.PrivateKey
}

var mcoRequestID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// discoveryMessage is "ping" as a Choria request carries it.
const discoveryMessage = "cGluZw=="

// decodeMessage decodes a received message in the node's mode.
func (n *Node) decodeMessage(m connector.Message) decoded {
	if n.mco == nil {
		return n.decode(m.Data)
	}
	d, err := n.decodeMCO(m)
	if err != nil {
		d.err = err
	}
	return d
}

// decodeMCO translates an MCollective request into the pipeline's
// layers: the transport carries the STOMP reply-to, the secure request
// the signed body and the base64 signature text, the request the
// signed fields. Nothing is verified here except that the unsigned
// envelope agrees with the signed body.
func (n *Node) decodeMCO(m connector.Message) (decoded, error) {
	if max := n.cfg.Load().maxMessageSize; max > 0 && len(m.Data) > max {
		return decoded{}, protocol.Errorf(protocol.KindTooLarge, "message of %d bytes, the limit is %d", len(m.Data), max)
	}
	ser := n.mco.Serializer
	r, err := mcollective.DecodeRequest(ser, m.Data)
	if err != nil {
		return decoded{}, protocol.Wrap(protocol.KindMalformed, err, "mcollective request")
	}
	req := &protocol.Request{ID: r.RequestID, SenderID: r.SenderID, CallerID: r.CallerID, Collective: r.Collective,
		Agent: r.Agent, TTL: int(r.TTL), Time: r.MsgTime}
	d := decoded{req: req, tr: &protocol.Transport{ReplyTo: m.ReplyTo, Sender: r.SenderID},
		sr: &protocol.SecureRequest{Message: r.Body, Signature: []byte(r.Hash)}}
	if !mcoRequestID.MatchString(r.RequestID) {
		return d, protocol.Errorf(protocol.KindMalformed, "request id %q is not 32 hex digits", r.RequestID)
	}
	body, err := mcollective.DecodeBody(ser, r.Body)
	if err != nil {
		return d, protocol.Wrap(protocol.KindMalformed, err, "request %s body", r.RequestID)
	}
	if body.TTL != r.TTL || body.MsgTime != r.MsgTime {
		return d, protocol.Errorf(protocol.KindTTL, "request %s: signed ttl/msgtime %d/%d differ from the envelope's %d/%d",
			r.RequestID, body.TTL, body.MsgTime, r.TTL, r.MsgTime)
	}
	if req.Message, err = mcoPayload(r, body); err != nil {
		return d, err
	}
	if req.Filter, err = mcoFilter(&r.Filter); err != nil {
		return d, protocol.Wrap(protocol.KindFilter, err, "request %s", r.RequestID)
	}
	req.RawFilter, _ = json.Marshal(&req.Filter)
	sum := sha256.Sum256(r.Body)
	d.replayID = hex.EncodeToString(sum[:])
	return d, nil
}

// mcoPayload is the Choria payload of a verified-to-be body: "ping" for
// discovery, else the RPC request as JSON, after checking that the
// signed agent and caller are the envelope's.
func mcoPayload(r *mcollective.Request, body *mcollective.Body) (string, error) {
	rpc, isRPC, err := body.RPC()
	if err != nil {
		return "", protocol.Wrap(protocol.KindMalformed, err, "request %s body", r.RequestID)
	}
	if !isRPC {
		if body.Msg != "ping" || r.Agent != protocol.DiscoveryAgent {
			return "", protocol.Errorf(protocol.KindMalformed, "request %s for %q carries no RPC request", r.RequestID, r.Agent)
		}
		return discoveryMessage, nil
	}
	if rpc.Agent != r.Agent {
		return "", protocol.Errorf(protocol.KindAgent, "request %s: signed agent %q is not the envelope's %q", r.RequestID, rpc.Agent, r.Agent)
	}
	if rpc.Caller != r.CallerID {
		return "", protocol.Errorf(protocol.KindCaller, "request %s: signed caller %q is not the callerid %q", r.RequestID, rpc.Caller, r.CallerID)
	}
	data, err := mcollective.ToJSON(rpc.Data)
	if err != nil {
		return "", protocol.Wrap(protocol.KindMalformed, err, "request %s data", r.RequestID)
	}
	b, err := json.Marshal(map[string]any{"agent": rpc.Agent, "action": rpc.Action, "data": data})
	if err != nil {
		return "", protocol.Wrap(protocol.KindMalformed, err, "request %s data", r.RequestID)
	}
	return string(b), nil
}

// mcoFilter maps MCollective's filter onto tutti's. The agent
// "mcollective" is always present on an MCollective node, so it is
// dropped; compound token lists become expressions.
func mcoFilter(f *mcollective.Filter) (protocol.Filter, error) {
	out := protocol.Filter{CFClass: f.CFClass, Identity: f.Identity}
	for _, a := range f.Agent {
		if a != "mcollective" {
			out.Agent = append(out.Agent, a)
		}
	}
	for _, ff := range f.Fact {
		out.Fact = append(out.Fact, protocol.FactFilter{Fact: ff.Fact, Operator: ff.Operator, Value: ff.Value})
	}
	for i, toks := range f.Compound {
		expr, err := mcollective.Expression(toks)
		if err != nil {
			return out, fmt.Errorf("compound filter %d: %w", i, err)
		}
		out.Compound = append(out.Compound, []protocol.CompoundEntry{{Expr: expr}})
	}
	return out, nil
}

// encodeMCOReply builds and signs an MCollective reply around body (the
// pipeline's reply text: "pong" or the RPC reply JSON).
func (n *Node) encodeMCOReply(req *protocol.Request, body []byte) ([]byte, error) {
	ser := n.mco.Serializer
	var inner rm.Value = "pong"
	if req.Agent != protocol.DiscoveryAgent {
		rr, err := protocol.DecodeRPCReply(body)
		if err != nil {
			return nil, fmt.Errorf("reply: %w", err)
		}
		data, err := mcollective.FromJSON(rr.Data)
		if err != nil {
			return nil, err
		}
		inner = rm.Sym("statuscode", int64(rr.StatusCode), "statusmsg", rr.StatusMsg, "data", data)
	}
	rb, err := ser.Marshal(inner)
	if err != nil {
		return nil, fmt.Errorf("reply body: %w", err)
	}
	if n.mco.ServerKey == nil {
		return nil, errors.New("no plugin.ssl_server_private to sign replies with")
	}
	hash, err := mcollective.Sign(n.mco.ServerKey, rb)
	if err != nil {
		return nil, err
	}
	return mcollective.EncodeReply(ser, &mcollective.Reply{SenderID: n.identity, RequestID: req.ID, SenderAgent: req.Agent,
		MsgTime: n.now().Unix(), Body: rb, Hash: hash})
}

// mcoReplyTo is strict_reply_to in MCollective mode: an MCollective
// client's reply queue (<collective>.reply.<identity>_<pid>.<n>) does not
// name the caller, so only the collective's reply space is enforced.
func mcoReplyTo(replyTo, collective string) bool {
	rest, ok := strings.CutPrefix(strings.TrimPrefix(replyTo, "/queue/"), collective+".reply.")
	return ok && rest != ""
}
