package client

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/internal/procstat"
	"github.com/tuttifleet/tutti/security/x509"
)

type replyRig struct {
	c    *Client
	node *x509.Provider
	id   string
}

func newReplyRig(tb testing.TB, kt x509.KeyType) *replyRig {
	tb.Helper()
	ca, _ := x509.NewCA("ca", x509.KeyECDSA, time.Hour)
	mk := func(name string) *x509.Provider {
		is, err := ca.Issue(name, x509.IssueOptions{KeyType: kt})
		if err != nil {
			tb.Fatal(err)
		}
		p, err := x509.NewFromPEM(is.CertPEM, is.KeyPEM, ca.CertPEM, x509.Config{})
		if err != nil {
			tb.Fatal(err)
		}
		return p
	}
	l := logrus.New()
	l.SetOutput(io.Discard)
	return &replyRig{c: &Client{o: Options{Verifier: mk("rip.mcollective"), Log: logrus.NewEntry(l)}}, node: mk("node1.example.net"), id: protocol.NewRequestID()}
}

func (r *replyRig) reply(tb testing.TB, sender, transportSender string, sign bool, tamper bool) []byte {
	body, _ := protocol.EncodeRPCReply(&protocol.RPCReply{Action: "ping", StatusMsg: "OK", Data: []byte(`{"pong":1}`)})
	msg, _ := protocol.EncodeReply(&protocol.Reply{RequestID: r.id, SenderID: sender, Agent: "rpcutil", Time: 1, Message: string(body)})
	sr := &protocol.SecureReply{Message: msg}
	if sign {
		sr.Signature, _ = r.node.Sign(msg)
		sr.PubCert = r.node.CertificatePEM()
	}
	sec, err := protocol.EncodeSecureReply(sr)
	if err != nil {
		tb.Fatal(err)
	}
	if tamper {
		sr.Message = append([]byte{}, msg...)
		sr.Message[len(sr.Message)-3] = '9'
		sr.Hash = nil
		sec, _ = protocol.EncodeSecureReply(sr) // hash recomputed, signature now wrong
	}
	tr, _ := protocol.EncodeTransport(&protocol.Transport{Data: sec, Sender: transportSender})
	return tr
}

func TestVerifyReplies(t *testing.T) {
	r := newReplyRig(t, x509.KeyECDSA)
	other := newReplyRig(t, x509.KeyECDSA) // another CA
	other.id = r.id
	foreign := other.reply(t, "node1.example.net", "node1.example.net", true, false)
	cases := []struct {
		name   string
		msg    []byte
		state  VerifyState
		reason Reason
		// acceptUnsigned is the state with AcceptUnsignedReplies.
		acceptUnsigned VerifyState
	}{
		{"signed by its node", r.reply(t, "node1.example.net", "node1.example.net", true, false), Verified, "", Verified},
		{"unsigned (Choria node)", r.reply(t, "node1.example.net", "node1.example.net", false, false), Failed, ReasonUnsigned, Unsigned},
		{"unsigned without transport sender", r.reply(t, "node1.example.net", "", false, false), Failed, ReasonUnsigned, Unsigned},
		{"signed by another node's key", r.reply(t, "node2.example.net", "node2.example.net", true, false), Failed, ReasonName, Failed},
		{"tampered message", r.reply(t, "node1.example.net", "node1.example.net", true, true), Failed, ReasonSignature, Failed},
		{"certificate from another CA", foreign, Failed, ReasonCertificate, Failed},
		{"forged transport sender (W10)", r.reply(t, "node1.example.net", "node9.example.net", true, false), Failed, ReasonSender, Failed},
	}
	for _, accept := range []bool{false, true} {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/accept_unsigned=%v", c.name, accept), func(t *testing.T) {
				r.c.o.AcceptUnsignedReplies = accept
				res, ok := r.c.verify(requestIDs{first: r.id}, c.msg)
				if !ok {
					t.Fatal("reply dropped instead of reported")
				}
				want, reason := c.state, c.reason
				if accept {
					want = c.acceptUnsigned
					if want != Failed {
						reason = ""
					}
				}
				if res.State != want || res.Reason != reason {
					t.Fatalf("state %s reason %q (%v), want %s %q", res.State, res.Reason, res.Err, want, reason)
				}
				if want == Failed && res.Err == nil {
					t.Fatal("refused reply has no error")
				}
				if res.Sender != "node1.example.net" && res.Sender != "node2.example.net" && res.Sender != "node9.example.net" {
					t.Fatalf("refused reply does not carry its claimed sender: %q", res.Sender)
				}
			})
		}
	}
	r.c.o.AcceptUnsignedReplies = false
	res, _ := r.c.verify(requestIDs{first: r.id}, r.reply(t, "node1.example.net", "", false, false))
	if !errors.Is(res.Err, protocol.ErrSignature) || !strings.Contains(res.Err.Error(), "plugin.tutti.require_signed_replies") {
		t.Fatalf("the unsigned refusal must be a signature error naming the setting: %v", res.Err)
	}
	if _, ok := r.c.verify(requestIDs{first: protocol.NewRequestID()}, r.reply(t, "node1.example.net", "", true, false)); ok {
		t.Fatal("reply to another request must be skipped")
	}
}

// BenchmarkVerifyReply is the client's cost per reply: decode three
// layers, check hash, request id, the node's signature and certificate.
func BenchmarkVerifyReply(b *testing.B) {
	for _, kt := range []x509.KeyType{x509.KeyECDSA, x509.KeyEd25519, x509.KeyRSA} {
		b.Run(string(kt), func(b *testing.B) {
			r := newReplyRig(b, kt)
			msg := r.reply(b, "node1.example.net", "node1.example.net", true, false)
			b.ReportAllocs()
			b.ResetTimer()
			start := procstat.SelfCPU()
			for i := 0; i < b.N; i++ {
				if res, ok := r.c.verify(requestIDs{first: r.id}, msg); !ok || res.State != Verified {
					b.Fatal(res.Err)
				}
			}
			reportCPU(b, start)
		})
	}
}

// fleetReplies are signed replies from 10,000 distinct nodes (ECDSA CA
// and node keys, one key, a certificate each), built once for every
// benchmark run. The CA's PEM is the last element.
var fleetReplies = sync.OnceValues(func() ([][]byte, error) { return makeFleet(x509.KeyECDSA, x509.KeyECDSA) })

// fleets holds makeFleet results by CA and node key type.
var fleets sync.Map // [2]x509.KeyType → func() ([][]byte, error)

func fleetOf(caType, nodeType x509.KeyType) ([][]byte, error) {
	if caType == x509.KeyECDSA && nodeType == x509.KeyECDSA {
		return fleetReplies()
	}
	f, _ := fleets.LoadOrStore([2]x509.KeyType{caType, nodeType},
		sync.OnceValues(func() ([][]byte, error) { return makeFleet(caType, nodeType) }))
	return f.(func() ([][]byte, error))()
}

// makeFleet signs a reply from each of 10,000 nodes, whose certificates
// (one key of nodeType, a certificate each) a CA of caType issued.
func makeFleet(caType, nodeType x509.KeyType) ([][]byte, error) {
	const nodes = 10000
	ca, err := x509.NewCA("ca", caType, time.Hour)
	if err != nil {
		return nil, err
	}
	key, err := x509.GenerateKey(nodeType)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, 0, nodes+1)
	for i := 0; i < nodes; i++ {
		name := fmt.Sprintf("emu-%05d.example.net", i)
		is, err := ca.Issue(name, x509.IssueOptions{Key: key})
		if err != nil {
			return nil, err
		}
		body, _ := protocol.EncodeRPCReply(&protocol.RPCReply{Action: "ping", StatusMsg: "OK", Data: []byte(`{"pong":1}`)})
		msg, _ := protocol.EncodeReply(&protocol.Reply{RequestID: fleetRequestID, SenderID: name, Agent: "rpcutil", Time: 1, Message: string(body)})
		sig, err := x509.SignWith(key, msg)
		if err != nil {
			return nil, err
		}
		sec, _ := protocol.EncodeSecureReply(&protocol.SecureReply{Message: msg, Signature: sig, PubCert: is.CertPEM})
		tr, _ := protocol.EncodeTransport(&protocol.Transport{Data: sec, Sender: name})
		out = append(out, tr)
	}
	return append(out, ca.CertPEM), nil
}

const fleetRequestID = "0123456789abcdef0123456789abcdef"

// BenchmarkVerifyReplyFleet is a long-running client (tutti bench, a
// script on the library) verifying replies from a 10,000-node fleet on
// every core: after a first pass every node's certificate should be
// cached, so each reply costs one signature verification.
func BenchmarkVerifyReplyFleet(b *testing.B) {
	replies, err := fleetReplies()
	if err != nil {
		b.Fatal(err)
	}
	caPEM, replies := replies[len(replies)-1], replies[:len(replies)-1]
	v, err := x509.NewFromPEM(nil, nil, caPEM, x509.Config{})
	if err != nil {
		b.Fatal(err)
	}
	l := logrus.New()
	l.SetOutput(io.Discard)
	c := &Client{o: Options{Verifier: v, Log: logrus.NewEntry(l)}}
	for _, m := range replies { // first pass: chains verified and cached
		if res, ok := c.verify(requestIDs{first: fleetRequestID}, m); !ok || res.State != Verified {
			b.Fatal(res.Err)
		}
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	start := procstat.SelfCPU()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1000))
		for pb.Next() {
			if res, ok := c.verify(requestIDs{first: fleetRequestID}, replies[i%len(replies)]); !ok || res.State != Verified {
				b.Error(res.Err)
				return
			}
			i++
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "replies/s")
	reportCPU(b, start)
}

// reportCPU adds cpu-ns/op: process CPU time (all threads) per reply
// since start. On a shared machine it stays close to the real cost when
// ns/op does not; 2e9 / cpu-ns/op is what two idle cores would verify
// per second.
func reportCPU(b *testing.B, start time.Duration) {
	b.StopTimer()
	if cpu := procstat.SelfCPU() - start; start > 0 && cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkVerifyReplyFirstContact is a fresh tutti process meeting the
// fleet: every reply comes from a node whose certificate the client has
// not seen, so each costs the node's certificate (parse, the CA's
// signature, validity, usage, CRL) on top of the reply's own signature.
// Replies are verified on every core, as the collector's worker pool
// does. Every 10,000 replies the verifier's caches are dropped (Reload),
// so a longer run stays a first contact. Sub-benchmarks are named
// ca-<CA key type>/node-<node key type>.
func BenchmarkVerifyReplyFirstContact(b *testing.B) {
	for _, kt := range [][2]x509.KeyType{{x509.KeyECDSA, x509.KeyECDSA}, {x509.KeyECDSA, x509.KeyEd25519},
		{x509.KeyEd25519, x509.KeyEd25519}, {x509.KeyRSA, x509.KeyECDSA}} {
		b.Run(fmt.Sprintf("ca-%s/node-%s", kt[0], kt[1]), func(b *testing.B) {
			replies, err := fleetOf(kt[0], kt[1])
			if err != nil {
				b.Fatal(err)
			}
			benchFirstContact(b, replies[len(replies)-1], replies[:len(replies)-1])
		})
	}
}

func benchFirstContact(b *testing.B, caPEM []byte, replies [][]byte) {
	v, err := x509.NewFromPEM(nil, nil, caPEM, x509.Config{})
	if err != nil {
		b.Fatal(err)
	}
	l := logrus.New()
	l.SetOutput(io.Discard)
	c := &Client{o: Options{Verifier: v, Log: logrus.NewEntry(l)}}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	start := procstat.SelfCPU()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1) - 1)
			if i > 0 && i%len(replies) == 0 {
				if err := v.Reload(); err != nil {
					b.Error(err)
					return
				}
			}
			if res, ok := c.verify(requestIDs{first: fleetRequestID}, replies[i%len(replies)]); !ok || res.State != Verified {
				b.Error(res.Err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "replies/s")
	reportCPU(b, start)
}
