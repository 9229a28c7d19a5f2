package x509

import (
	"bytes"
	"errors"
	"regexp"
	"testing"

	"github.com/tuttifleet/tutti/connector/protocol"
)

// The specification of parseCallerID, as regular expressions.
var (
	callerPlainRe = regexp.MustCompile(`^[a-z]+=([\w.\-]+)$`)
	callerEmailRe = regexp.MustCompile(`^[a-z]+=(email:[\w.\-+]+@[\w.\-]+)$`)
)

func FuzzParseCallerID(f *testing.F) {
	for _, s := range []string{"choria=anchor.mcollective", "up=bob", "choria=bob/x", "xcert=alice",
		"choria=email:a+b@example.net", "=x", "a=", "a==b", "choria=bob\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		kind, name, ok := parseCallerID(s)
		m := callerPlainRe.FindStringSubmatch(s)
		if m == nil {
			m = callerEmailRe.FindStringSubmatch(s)
		}
		if ok != (m != nil) {
			t.Fatalf("parseCallerID(%q) ok=%v, regex match=%v", s, ok, m != nil)
		}
		if ok && (name != m[1] || kind+"="+name != s) {
			t.Fatalf("parseCallerID(%q) = %q, %q; regex name %q", s, kind, name, m[1])
		}
	})
}

// FuzzVerifyRequest feeds arbitrary pubcert and callerid values: the
// provider must never panic, must refuse with a *protocol.Error, and may
// accept only alice's own certificate asserting alice's own name.
func FuzzVerifyRequest(f *testing.F) {
	ca := mustCA(f, "test CA", KeyECDSA)
	alice := mustIssue(f, ca, "alice.mcollective", IssueOptions{})
	sig := mustSign(f, alice, testMsg)
	p := verifier(f, ca, Config{})
	f.Add(alice.CertPEM, "choria=alice.mcollective")
	f.Add(alice.CertPEM, "up=bob")
	f.Add([]byte("insecure"), "choria=alice.mcollective")
	f.Add(append(append([]byte{}, alice.CertPEM...), ca.CertPEM...), "choria=alice.mcollective")
	f.Fuzz(func(t *testing.T, pubcert []byte, callerID string) {
		caller, err := p.VerifyRequest(testMsg, sig, pubcert, callerID)
		if err != nil {
			var pe *protocol.Error
			if !errors.As(err, &pe) || pe.Reason == "" {
				t.Fatalf("refusal %v is not a *protocol.Error with a reason", err)
			}
			return
		}
		ders, perr := pemCertificates(pubcert)
		if perr != nil || !bytes.Equal(ders[0], alice.Cert.Raw) || callerID != "choria=alice.mcollective" || caller.Privileged {
			t.Fatalf("accepted pubcert %q callerid %q", pubcert, callerID)
		}
	})
}
