package x509

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCheckValidity(t *testing.T) {
	ca := mustCA(t, "ca", KeyECDSA)
	is := mustIssue(t, ca, "rip.mcollective", IssueOptions{Validity: time.Hour})
	clock := newTestClock(time.Now())
	p, err := NewFromPEM(is.CertPEM, is.KeyPEM, ca.CertPEM, Config{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.CheckValidity(); err != nil {
		t.Fatalf("valid certificate: %v", err)
	}
	for _, tt := range []struct {
		at   time.Time
		want string
	}{
		{time.Now().Add(2 * time.Hour), "expired on"},
		{time.Now().Add(-2 * time.Hour), "not valid until"},
	} {
		clock.set(tt.at)
		err := p.CheckValidity()
		if !errors.Is(err, ErrNotValidNow) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "rip.mcollective") {
			t.Errorf("at %s: %v, want ErrNotValidNow naming the certificate and %q", tt.at, err, tt.want)
		}
	}
	verifyOnly, err := NewFromPEM(nil, nil, ca.CertPEM, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := verifyOnly.CheckValidity(); err != nil {
		t.Errorf("no certificate: %v", err)
	}
}
