package signer

import (
	"errors"
	"strings"
	"testing"

	"github.com/tuttifleet/tutti/aaa/sso/ssoconfig"
)

// ssoOnly is a login service for single sign-on only: no userlist
// authenticator, the signing key still under userlist_authenticator.
const ssoOnly = `
port: 8443
tls_certificate: /etc/tutti/aaa.pem
tls_key: /etc/tutti/aaa.key
userlist_authenticator:
  signing_key: /etc/tutti/aaa-jwt.seed
oidc_authenticator:
  issuer: https://idp.example.com
  client_id: tutti-aaa
  groups:
    - group: ops
      acls: [rpcutil.*]
`

func TestParseConfigSSOOnly(t *testing.T) {
	c, warnings, err := ParseConfig([]byte(ssoOnly))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 || !c.OIDC.Enabled() || c.OIDC.GroupsClaim != "groups" || c.OIDC.Groups[0].CallerIDPrefix != "up=" {
		t.Fatalf("config %+v, warnings %v", c.OIDC, warnings)
	}
	_, _, err = ParseConfig([]byte(strings.Replace(ssoOnly, "  signing_key: /etc/tutti/aaa-jwt.seed\n", "  validity: 1h\n", 1)))
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "signing_key") {
		t.Fatalf("no signing key: %v", err)
	}
	_, _, err = ParseConfig([]byte(strings.Replace(ssoOnly, "https://idp", "http://idp", 1)))
	if err == nil || !strings.Contains(err.Error(), "oidc_authenticator") {
		t.Fatalf("http issuer: %v", err)
	}
}

// A program that runs tutti-aaa without single sign-on (Options.NewSSO
// nil, the tutti demo) refuses a config with oidc_authenticator rather
// than serving without it.
func TestNewRefusesSSOWithoutNewSSO(t *testing.T) {
	c, _, err := ParseConfig([]byte(ssoOnly))
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(c, Options{})
	if !errors.Is(err, ssoconfig.ErrConfig) || !strings.Contains(err.Error(), "without single sign-on") {
		t.Fatalf("got %v", err)
	}
}
