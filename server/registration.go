package server

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security"
	"github.com/tuttifleet/tutti/server/version"
)

// RegistrationAgent is the agent name registration messages are addressed
// to: they travel on <collective>.broadcast.agent.registration
// (docs/protocol.md §11, docs/config-reference.md §13) and expect no reply.
const RegistrationAgent = "registration"

// registrationTTL is the validity of a registration message.
const registrationTTL = 60

// Registration is the data a node publishes about itself at start and
// every registerinterval, so inventory tools can listen instead of ask.
type Registration struct {
	Identity    string   `json:"identity"`
	Version     string   `json:"version"`
	Agents      []string `json:"agents"`
	Collectives []string `json:"collectives"`
	// FactsSHA256 is the hex SHA-256 of the facts as JSON with sorted
	// keys: a listener refreshes its copy (rpcutil#inventory) only when
	// it changes.
	FactsSHA256 string `json:"facts_sha256"`
	Classes     int    `json:"classes"`
	StartTime   int64  `json:"start_time"`
	Time        int64  `json:"time"`
	// Stats are the node's request counters (rpcutil#daemon_stats).
	Stats map[string]uint64 `json:"stats"`
}

// RegistrationOptions say where and how often a node registers.
type RegistrationOptions struct {
	// Collective is registration_collective.
	Collective string
	// Interval is registerinterval; 0 publishes once at start.
	Interval time.Duration
	// Splay delays the first message by a random part of Interval
	// (registration_splay) so a fleet restarted at once does not
	// register in one burst.
	Splay bool
	// OnPublish, if set, is called after every attempt (metrics).
	OnPublish func(error)
}

// registration builds the node's current registration data.
func (n *Node) registration() (*Registration, error) {
	facts, err := json.Marshal(n.facts.Facts())
	if err != nil {
		return nil, fmt.Errorf("registration: encode facts: %w", err)
	}
	sum := sha256.Sum256(facts)
	s := n.Stats()
	return &Registration{
		Identity: n.identity, Version: version.Version, Agents: n.agentNames(), Collectives: n.cfg.Load().collectiveList,
		FactsSHA256: hex.EncodeToString(sum[:]), Classes: len(n.facts.Classes()), StartTime: n.started.Unix(),
		Time: n.now().Unix(),
		Stats: map[string]uint64{
			"total": s.Total, "validated": s.Validated, "unvalidated": s.Unvalidated, "passed": s.Passed,
			"filtered": s.Filtered, "replies": s.Replies, "ttlexpired": s.TTLExpired, "replayed": s.Replayed,
		},
	}, nil
}

// PublishRegistration publishes one registration message to collective:
// a choria:request:1 for agent "registration" with the node as sender
// and caller (choria=<identity>), signed with the node's key exactly as
// a reply is, so listeners check it with VerifyRegistration.
func (n *Node) PublishRegistration(ctx context.Context, collective string) error {
	if n.mco != nil {
		return errors.New("registration is not supported in MCollective (securityprovider = ssl) mode")
	}
	reg, err := n.registration()
	if err != nil {
		return err
	}
	body, err := json.Marshal(reg)
	if err != nil {
		return fmt.Errorf("registration: %w", err)
	}
	msg, err := protocol.EncodeRequest(&protocol.Request{
		ID: protocol.NewRequestID(), SenderID: n.identity, CallerID: "choria=" + n.identity, Collective: collective,
		Agent: RegistrationAgent, TTL: registrationTTL, Time: reg.Time, Message: base64.StdEncoding.EncodeToString(body),
	})
	if err != nil {
		return fmt.Errorf("registration: %w", err)
	}
	sig, err := n.signer.Sign(msg)
	if err != nil {
		return fmt.Errorf("registration: sign: %w", err)
	}
	sec, err := protocol.EncodeSecureRequest(&protocol.SecureRequest{Message: msg, Signature: sig, PubCert: n.signer.CertificatePEM()})
	if err != nil {
		return fmt.Errorf("registration: %w", err)
	}
	tr, err := protocol.EncodeTransport(&protocol.Transport{Data: sec, Sender: n.identity})
	if err != nil {
		return fmt.Errorf("registration: %w", err)
	}
	dest := connector.Destination{Kind: connector.Broadcast, Collective: collective, Agent: RegistrationAgent}
	if err := n.conn.Publish(ctx, dest, tr); err != nil {
		return fmt.Errorf("registration: publish: %w", err)
	}
	return nil
}

// RunRegistration publishes registration messages until ctx ends: at
// start (after the splay) and then every o.Interval. Failures are logged
// and retried at the next tick.
func (n *Node) RunRegistration(ctx context.Context, o RegistrationOptions) {
	log := n.log.WithField("collective", o.Collective)
	if o.Splay && o.Interval > 0 {
		t := time.NewTimer(rand.N(o.Interval))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	publish := func() {
		err := n.PublishRegistration(ctx, o.Collective)
		if err != nil && ctx.Err() == nil {
			log.WithError(err).Warn("registration message not published")
		} else if err == nil {
			log.Debug("registration message published")
		}
		if o.OnPublish != nil {
			o.OnPublish(err)
		}
	}
	publish()
	if o.Interval <= 0 {
		return
	}
	tick := time.NewTicker(o.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			publish()
		}
	}
}

// VerifyRegistration decodes a registration message as received from
// the broker and checks it: the transport, secure request and request
// layers decode; the agent is "registration"; the certificate chains to
// the trusted CA and is named after the sender (as for a reply); the
// signature covers the exact request bytes; the message is inside its
// ttl at now; and the data names the same identity.
func VerifyRegistration(msg []byte, v security.Verifier, now time.Time) (*Registration, error) {
	tr, err := protocol.DecodeTransport(msg, 0)
	if err != nil {
		return nil, err
	}
	sr, err := protocol.DecodeSecureRequest(tr.Data)
	if err != nil {
		return nil, err
	}
	if sr.Insecure {
		return nil, protocol.Errorf(protocol.KindSignature, "registration message is unsigned")
	}
	req, err := protocol.DecodeRequest(sr.Message)
	if err != nil {
		return nil, err
	}
	if req.Agent != RegistrationAgent {
		return nil, protocol.Errorf(protocol.KindAgent, "message %s is for agent %q, not %s", req.ID, req.Agent, RegistrationAgent)
	}
	if err := v.VerifyReply(sr.Message, sr.Signature, sr.PubCert, req.SenderID); err != nil {
		return nil, err
	}
	ttl := time.Duration(req.TTL) * time.Second
	created := time.Unix(req.Time, 0)
	if !(now.Add(-ttl).Before(created) && created.Before(now.Add(ttl))) {
		return nil, protocol.Errorf(protocol.KindTTL, "registration %s from %s created at %d is outside its ttl of %ds",
			req.ID, req.SenderID, req.Time, req.TTL)
	}
	var reg Registration
	if err := json.Unmarshal(req.PayloadBytes(), &reg); err != nil {
		return nil, protocol.Wrap(protocol.KindMalformed, err, "registration %s from %s", req.ID, req.SenderID)
	}
	if reg.Identity != req.SenderID {
		return nil, protocol.Errorf(protocol.KindMalformed, "registration %s is signed by %s but describes %q",
			req.ID, req.SenderID, reg.Identity)
	}
	return &reg, nil
}
