package client

import (
	"context"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security/x509"
)

// BenchmarkDirectedChunk measures what one signed chunk of a directed
// request costs for chunk sizes from 1 to 4096 identities of 22 bytes
// (node01234.example.net): the client's build-and-sign time per chunk
// (ECDSA P-256 and RSA 2048 keys), the transport message's size
// (bytes/msg, and bytes/target for the identities' share), and a node's
// decode, signature check and identity match of one message. Chosen from
// it: DefaultDirectedChunk.
func BenchmarkDirectedChunk(b *testing.B) {
	for _, kt := range []x509.KeyType{x509.KeyECDSA, x509.KeyRSA} {
		ca, err := x509.NewCA("ca", kt, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		is, err := ca.Issue("rip.mcollective", x509.IssueOptions{KeyType: kt})
		if err != nil {
			b.Fatal(err)
		}
		user, err := x509.NewFromPEM(is.CertPEM, is.KeyPEM, ca.CertPEM, x509.Config{})
		if err != nil {
			b.Fatal(err)
		}
		l := logrus.New()
		l.SetOutput(io.Discard)
		c, err := New(Options{Connector: &fakeFleet{}, Signer: &LocalSigner{Signer: user, Caller: "choria=rip.mcollective"},
			Verifier: user, Identity: "rip.mcollective", Log: logrus.NewEntry(l)})
		if err != nil {
			b.Fatal(err)
		}
		base := 0 // the size of a message naming one target
		for _, size := range []int{1, 16, 64, 256, 1024, 4096} {
			chunk := make([]string, size)
			for i := range chunk {
				chunk[i] = fmt.Sprintf("node%05d.example.net", i)
			}
			req := Request{Agent: "rpcutil", Action: "ping", Filter: protocol.NewFilter("rpcutil")}
			f := req.Filter
			f.Identity = chunk
			msg := func() []byte {
				secure, id, err := c.sign(context.Background(), req, f, "mcollective", time.Minute)
				if err != nil {
					b.Fatal(err)
				}
				tr, err := protocol.EncodeTransport(&protocol.Transport{Data: secure, ReplyTo: "mcollective.reply.0123456789abcdef0123456789abcdef." + id, Sender: "rip.mcollective"})
				if err != nil {
					b.Fatal(err)
				}
				return tr
			}
			one := msg()
			if size == 1 {
				base = len(one) - len(chunk[0])
			}
			b.Run(fmt.Sprintf("%s/sign/%d", kt, size), func(b *testing.B) {
				var n int
				for b.Loop() {
					n = len(msg())
				}
				b.ReportMetric(float64(n), "bytes/msg")
				b.ReportMetric(float64(n-base)/float64(size), "bytes/target")
				b.ReportMetric(float64(base), "bytes/base")
			})
			b.Run(fmt.Sprintf("%s/node/%d", kt, size), func(b *testing.B) {
				me := chunk[len(chunk)-1]
				for b.Loop() {
					tr, err := protocol.DecodeTransport(one, 0)
					if err != nil {
						b.Fatal(err)
					}
					sr, err := protocol.DecodeSecureRequest(tr.Data)
					if err != nil {
						b.Fatal(err)
					}
					r, err := protocol.DecodeRequest(sr.Message)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := user.VerifyRequest(sr.Message, sr.Signature, sr.PubCert, r.CallerID); err != nil {
						b.Fatal(err)
					}
					if !slices.Contains(r.Filter.Identity, me) {
						b.Fatal("not named")
					}
				}
			})
		}
	}
}
