package x509

import (
	"strings"
	"sync"
	"testing"
)

// Providers built from one Trust verify, sign and refuse as providers
// built each from its own PEM, share the parsed CA and the compiled
// rules, and keep their caches and fast-path state to themselves.
func TestTrustProvidersBehaveAsFromPEM(t *testing.T) {
	ca := mustCA(t, "test CA", KeyECDSA)
	foreign := mustCA(t, "foreign CA", KeyECDSA)
	n1 := mustIssue(t, ca, "node1.example.net", IssueOptions{})
	n2 := mustIssue(t, ca, "node2.example.net", IssueOptions{})
	alice := mustIssue(t, ca, "alice.mcollective", IssueOptions{})
	bob := mustIssue(t, ca, "bob.other", IssueOptions{})
	mallory := mustIssue(t, foreign, "mallory.mcollective", IssueOptions{})
	cfg := Config{}
	trust, err := NewTrust(ca.CertPEM, cfg)
	if err != nil {
		t.Fatal(err)
	}
	p1, err := NewFromTrust(n1.CertPEM, n1.KeyPEM, trust)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := NewFromTrust(n2.CertPEM, n2.KeyPEM, trust)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := NewFromPEM(n1.CertPEM, n1.KeyPEM, ca.CertPEM, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p1.Name() != "node1.example.net" || p2.Name() != "node2.example.net" {
		t.Fatalf("names %q, %q", p1.Name(), p2.Name())
	}
	if p1.CAPool() != p2.CAPool() || &p1.rules.allow[0] != &p2.rules.allow[0] {
		t.Fatal("providers of one trust parsed the CA or compiled the rules again")
	}
	st1, st2 := p1.st.Load(), p2.st.Load()
	if st1.requests == st2.requests || st1.replies == st2.replies {
		t.Fatal("providers of one trust share a verified-certificate cache")
	}
	for subj, f1 := range st1.fast {
		if f1 != nil && f1 == st2.fast[subj] {
			t.Fatal("providers of one trust share the fast path's CA state")
		}
	}
	request := func(p *Provider, is *Issued, caller string) error {
		_, err := p.VerifyRequest(testMsg, mustSign(t, is, testMsg), is.CertPEM, caller)
		return err
	}
	cases := []struct {
		name   string
		is     *Issued
		caller string
		want   string // "" accepted, else part of the refusal
	}{
		{"caller of the CA", alice, "choria=alice.mcollective", ""},
		{"name outside the certname rules", bob, "choria=bob.other", "bob.other"},
		{"certificate of another CA", mallory, "choria=mallory.mcollective", "mallory.mcollective"},
	}
	for _, tc := range cases {
		for _, p := range []*Provider{p1, p2, ref} {
			err := request(p, tc.is, tc.caller)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("%s: %s refused: %v", tc.name, p.Name(), err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("%s: %s: error %v, want one naming %q", tc.name, p.Name(), err, tc.want)
			}
		}
	}
	// each signs with its own key; a peer of the same trust verifies it
	sig, err := p2.Sign(testMsg)
	if err != nil {
		t.Fatal(err)
	}
	if err := p1.VerifyReply(testMsg, sig, p2.CertificatePEM(), "node2.example.net"); err != nil {
		t.Fatalf("reply of node2 refused by node1: %v", err)
	}
	if err := p1.VerifyReply(testMsg, sig, p1.CertificatePEM(), "node1.example.net"); err == nil {
		t.Fatal("node2's signature accepted as node1's")
	}
	// a reload keeps the shared CA and drops only this provider's cache
	if err := p1.Reload(); err != nil {
		t.Fatal(err)
	}
	if p1.CAPool() != p2.CAPool() || p1.st.Load().requests.len() != 0 || p2.st.Load().requests.len() == 0 {
		t.Fatal("reload of one provider: the CA was parsed again, or the caches are not its own")
	}
}

func TestTrustErrors(t *testing.T) {
	ca := mustCA(t, "test CA", KeyECDSA)
	n1 := mustIssue(t, ca, "node1.example.net", IssueOptions{})
	n2 := mustIssue(t, ca, "node2.example.net", IssueOptions{})
	if _, err := NewTrust([]byte("junk"), Config{}); err == nil || !strings.Contains(err.Error(), "parse CA") {
		t.Fatalf("NewTrust with junk: %v", err)
	}
	if _, err := NewTrust(ca.CertPEM, Config{CertnameAllow: []string{"/(/"}}); err == nil || !strings.Contains(err.Error(), "certname allow pattern") {
		t.Fatalf("NewTrust with a bad rule: %v", err)
	}
	trust, err := NewTrust(ca.CertPEM, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewFromTrust(n1.CertPEM, n2.KeyPEM, trust); err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Fatalf("NewFromTrust with another certificate's key: %v", err)
	}
	if _, err := NewFromTrust(nil, n1.KeyPEM, trust); err == nil || !strings.Contains(err.Error(), "without its certificate") {
		t.Fatalf("NewFromTrust with a key alone: %v", err)
	}
}

// Providers of one Trust verify concurrently, one of them reloading,
// without a race on what they share (go test -race).
func TestTrustProvidersConcurrent(t *testing.T) {
	ca := mustCA(t, "test CA", KeyECDSA)
	alice := mustIssue(t, ca, "alice.mcollective", IssueOptions{})
	sig := mustSign(t, alice, testMsg)
	trust, err := NewTrust(ca.CertPEM, Config{})
	if err != nil {
		t.Fatal(err)
	}
	provs := make([]*Provider, 4)
	for i := range provs {
		n := mustIssue(t, ca, "node"+string(rune('1'+i))+".example.net", IssueOptions{})
		if provs[i], err = NewFromTrust(n.CertPEM, n.KeyPEM, trust); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(provs)*20)
	for _, p := range provs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if _, err := p.VerifyRequest(testMsg, sig, alice.CertPEM, "choria=alice.mcollective"); err != nil {
					errs <- err
				}
			}
		}()
	}
	for range 5 {
		if err := provs[0].Reload(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
