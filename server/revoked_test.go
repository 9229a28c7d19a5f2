package server_test

import (
	"context"
	"crypto/rand"
	stdx509 "crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server"
)

// revokeClient puts a CRL listing the rig's client certificate in force
// on the node.
func (r *rig) revokeClient(t *testing.T) {
	t.Helper()
	certs, err := x509.ParseCertificatesPEM(r.client.CertificatePEM())
	if err != nil {
		t.Fatal(err)
	}
	der, err := stdx509.CreateRevocationList(rand.Reader, &stdx509.RevocationList{Number: big.NewInt(1), ThisUpdate: time.Now(), NextUpdate: time.Now().Add(time.Hour),
		RevokedCertificateEntries: []stdx509.RevocationListEntry{{SerialNumber: certs[0].SerialNumber, RevocationTime: time.Now()}}},
		r.ca.Cert, r.ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.nodeP.ApplyCRL(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})); err != nil {
		t.Fatal(err)
	}
}

// withTransport re-encodes msg's transport with edit applied.
func withTransport(t *testing.T, msg []byte, edit func(*protocol.Transport, *protocol.SecureRequest)) []byte {
	t.Helper()
	tr, err := protocol.DecodeTransport(msg, 0)
	if err != nil {
		t.Fatal(err)
	}
	sr, err := protocol.DecodeSecureRequest(tr.Data)
	if err != nil {
		t.Fatal(err)
	}
	edit(tr, sr)
	if tr.Data, err = protocol.EncodeSecureRequest(sr); err != nil {
		t.Fatal(err)
	}
	out, err := protocol.EncodeTransport(tr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A revoked caller's request is answered "certificate revoked" (signed,
// status Aborted) on its own reply subject; a copy with another reply
// subject, a bad signature or a filter that does not select the node is
// dropped as before, and each refusal wraps security.ErrRevoked or names
// the signature.
func TestRevokedCallerGetsARefusal(t *testing.T) {
	r := newRig(t, x509.KeyECDSA, nil, nil)
	if out := r.node.Process(context.Background(), rpcutilSubject, r.request(t)); out.Reply == nil {
		t.Fatalf("before revocation: %v", out.Dropped)
	}
	r.revokeClient(t)
	msg := r.request(t)
	out := r.node.Process(context.Background(), rpcutilSubject, msg)
	if out.Reply == nil {
		t.Fatalf("no refusal reply: %v", out.Dropped)
	}
	tr, _ := protocol.DecodeTransport(msg, 0)
	if out.ReplyTo != tr.ReplyTo {
		t.Fatalf("refusal sent to %q, not the caller's %q", out.ReplyTo, tr.ReplyTo)
	}
	rtr, _ := protocol.DecodeTransport(out.Reply, 0)
	sr, err := protocol.DecodeSecureReply(rtr.Data)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.client.VerifyReply(sr.Message, sr.Signature, sr.PubCert, "node1.example.net"); err != nil {
		t.Fatalf("refusal not signed by the node: %v", err)
	}
	rep, _ := protocol.DecodeReply(sr.Message)
	body, err := protocol.DecodeRPCReply([]byte(rep.Message))
	if err != nil || body.StatusCode != protocol.Aborted || !strings.HasPrefix(body.StatusMsg, protocol.CertificateRevokedMsg+": ") ||
		!strings.Contains(body.StatusMsg, "rip.mcollective") {
		t.Fatalf("refusal %s (%v)", rep.Message, err)
	}

	other := withTransport(t, r.request(t), func(tr *protocol.Transport, _ *protocol.SecureRequest) {
		tr.ReplyTo = connector.ReplyTo("mcollective", "choria=victim.mcollective", "x")
	})
	forged := withTransport(t, r.request(t), func(_ *protocol.Transport, sr *protocol.SecureRequest) {
		sr.Signature[len(sr.Signature)/2] ^= 0xff
	})
	unselected := r.filteredRequest(t, protocol.Filter{Fact: []protocol.FactFilter{{Fact: "role", Operator: "==", Value: "db"}}, Agent: []string{"rpcutil"}})
	// with strict_reply_to off the node would reply anywhere; a revoked
	// caller's refusal still goes to its own reply subject only
	r.node.UpdateSettings(server.Settings{Identity: "node1.example.net", Collectives: []string{"mcollective"}, MaxTTL: time.Hour, AnyReplyTo: true})
	for name, c := range map[string]struct {
		msg     []byte
		revoked bool
	}{"another reply subject": {other, true}, "bad signature": {forged, false}, "not selected": {unselected, true}} {
		out := r.node.Process(context.Background(), rpcutilSubject, c.msg)
		if out.Reply != nil {
			t.Errorf("%s: answered", name)
		}
		if got := errors.Is(out.Dropped, security.ErrRevoked); got != c.revoked {
			t.Errorf("%s: dropped %v, revoked %v", name, out.Dropped, got)
		}
	}
}
