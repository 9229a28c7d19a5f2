package x509

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// A fleet with Choria servers signs with RSA keys only: the refusal
// names the key type, the certificate and the fix.
func TestRequireRSA(t *testing.T) {
	ca, err := NewCA("ca", KeyECDSA, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, kt := range []KeyType{KeyRSA, KeyECDSA, KeyEd25519} {
		is, err := ca.Issue("alice.mcollective", IssueOptions{KeyType: kt})
		if err != nil {
			t.Fatal(err)
		}
		p, err := NewFromPEM(is.CertPEM, is.KeyPEM, ca.CertPEM, Config{})
		if err != nil {
			t.Fatal(err)
		}
		if p.KeyType() != kt {
			t.Errorf("KeyType %q, want %q", p.KeyType(), kt)
		}
		err = p.RequireRSA()
		if kt == KeyRSA {
			if err != nil {
				t.Errorf("RSA refused: %v", err)
			}
			continue
		}
		if !errors.Is(err, ErrNotRSA) {
			t.Fatalf("%s key accepted: %v", kt, err)
		}
		for _, want := range []string{strings.ToUpper(string(kt)), `"alice.mcollective"`, "tutti pki issue --key-type rsa alice.mcollective"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s refusal lacks %q: %v", kt, want, err)
			}
		}
	}
	verifyOnly, err := NewFromPEM(nil, nil, ca.CertPEM, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(verifyOnly.RequireRSA(), ErrNotRSA) {
		t.Error("a provider without a key cannot sign for Choria servers")
	}
}

func TestIsCallerName(t *testing.T) {
	for name, want := range map[string]bool{
		"alice.mcollective": true, "aaa.privileged.mcollective": true, "bob.choria": true,
		"node1.example.net": false, "mcollective.example.net": false,
	} {
		if IsCallerName(name) != want {
			t.Errorf("IsCallerName(%q) = %v", name, !want)
		}
	}
}
