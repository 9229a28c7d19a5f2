package sso_test

import (
	"errors"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/tuttifleet/tutti/aaa/sso"
)

const exampleYAML = `
issuer: https://idp.example.com/realms/ops
client_id: tutti-aaa
client_secret_file: /etc/tutti/oidc-secret
groups_claim: groups
require_second_factor: true
groups:
  - group: fleet-admins
    acls: ["*"]
    validity: 30m
  - group: web-team
    agents: [service.restart, rpcutil.ping]
    callerid_prefix: "sso="
    properties: {team: web}
`

func TestConfigYAMLAndDefaults(t *testing.T) {
	var c sso.Config
	if err := yaml.Unmarshal([]byte(exampleYAML), &c); err != nil {
		t.Fatal(err)
	}
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.UsernameClaim != "preferred_username" || !c.Enabled() || c.Groups[0].CallerIDPrefix != "up=" ||
		c.Groups[0].Validity.String() != "30m0s" || strings.Join(c.Groups[1].ACLs, ",") != "service.restart,rpcutil.ping" ||
		c.Groups[1].Properties["team"] != "web" || c.Groups[1].Organization != "choria" {
		t.Fatalf("config %+v", c)
	}
}

func TestConfigRefusals(t *testing.T) {
	for name, tc := range map[string]struct {
		edit func(*sso.Config)
		want string
	}{
		"http issuer":   {func(c *sso.Config) { c.Issuer = "http://idp.example.com" }, "https"},
		"no client":     {func(c *sso.Config) { c.ClientID = "" }, "client_id"},
		"alg none":      {func(c *sso.Config) { c.SigningAlgorithms = []string{"none"} }, "never none"},
		"hmac":          {func(c *sso.Config) { c.SigningAlgorithms = []string{"HS256"} }, "HS256"},
		"no openid":     {func(c *sso.Config) { c.Scopes = []string{"profile"} }, "openid"},
		"no groups":     {func(c *sso.Config) { c.Groups = nil }, "at least one group"},
		"password":      {func(c *sso.Config) { c.Groups[0].Password = "x" }, "static users"},
		"prefix":        {func(c *sso.Config) { c.Groups[0].CallerIDPrefix = "up" }, "callerid_prefix"},
		"bad acl":       {func(c *sso.Config) { c.Groups[0].ACLs = []string{"rpcutil"} }, "acl"},
		"twice":         {func(c *sso.Config) { c.Groups = append(c.Groups, c.Groups[0]) }, "twice"},
		"both secrets":  {func(c *sso.Config) { c.ClientSecret = "x" }, "exclusive"},
		"negative life": {func(c *sso.Config) { c.Groups[0].Validity = -1 }, "negative"},
	} {
		var c sso.Config
		if err := yaml.Unmarshal([]byte(exampleYAML), &c); err != nil {
			t.Fatal(err)
		}
		c.ApplyDefaults()
		tc.edit(&c)
		err := c.Validate()
		if !errors.Is(err, sso.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}
