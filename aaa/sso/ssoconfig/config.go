// Package ssoconfig is the configuration and the metrics of tutti-aaa's
// single sign-on (aaa/sso) without its OpenID Connect client, so a
// program that builds tutti-aaa's configuration or runs it without SSO
// (the tutti client's demo) does not link one.
package ssoconfig

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"time"

	"github.com/tuttifleet/tutti/aaa/login"
)

// ErrConfig is wrapped by every refusal of an oidc_authenticator section.
var ErrConfig = errors.New("invalid oidc_authenticator")

// Defaults of Config.
const (
	DefaultUsernameClaim = "preferred_username"
	DefaultGroupsClaim   = "groups"
	DefaultCallerPrefix  = "up="
	// DefaultMaxSessions bounds the flows in progress at once.
	DefaultMaxSessions = 1000
	// DefaultCodeTimeout is how long a code + PKCE flow may take.
	DefaultCodeTimeout = 10 * time.Minute
	// MaxDeviceTimeout caps the provider's device code lifetime.
	MaxDeviceTimeout = 15 * time.Minute
)

// DefaultScopes are requested when Config.Scopes is empty.
var DefaultScopes = []string{"openid", "profile", "email", "groups"}

// DefaultAlgorithms is the ID token signature allow-list when
// Config.SigningAlgorithms is empty: asymmetric algorithms only.
var DefaultAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// DefaultSecondFactorAMR are the amr values (RFC 8176) that show a second
// factor when Config.SecondFactorAMR is empty.
var DefaultSecondFactorAMR = []string{"mfa", "otp", "hwk", "sc", "sms", "tel"}

// Config is the oidc_authenticator section of tutti-aaa's configuration.
type Config struct {
	// Issuer is the provider's issuer URL; discovery reads
	// <issuer>/.well-known/openid-configuration.
	Issuer string `yaml:"issuer"`
	// ClientID is tutti-aaa's client at the provider; ID tokens must
	// name it in aud.
	ClientID string `yaml:"client_id"`
	// ClientSecret or ClientSecretFile authenticate tutti-aaa at the
	// token endpoint; neither makes it a public client (PKCE protects
	// the code flow either way).
	ClientSecret     string `yaml:"client_secret"`
	ClientSecretFile string `yaml:"client_secret_file"`
	// CA verifies the provider's TLS certificate; empty: system roots.
	CA string `yaml:"ca"`
	// Scopes requested; default DefaultScopes. Must hold "openid".
	Scopes []string `yaml:"scopes"`
	// UsernameClaim names the user (default preferred_username); the
	// caller id is the group's callerid_prefix + this value.
	UsernameClaim string `yaml:"username_claim"`
	// GroupsClaim holds the user's groups, a list of strings or one
	// string; a dotted name walks nested objects ("realm_access.roles").
	GroupsClaim string `yaml:"groups_claim"`
	// SigningAlgorithms is the ID token alg allow-list.
	SigningAlgorithms []string `yaml:"signing_algorithms"`
	// RequireSecondFactor refuses ID tokens whose amr holds none of
	// SecondFactorAMR and whose acr is none of SecondFactorACR.
	RequireSecondFactor bool     `yaml:"require_second_factor"`
	SecondFactorAMR     []string `yaml:"second_factor_amr"`
	SecondFactorACR     []string `yaml:"second_factor_acr"`
	// Validity is the token lifetime when no matched group sets a
	// shorter one; default the userlist validity (1h).
	Validity time.Duration `yaml:"validity"`
	// Groups map provider groups to entitlements, in priority order.
	Groups []Entitlement `yaml:"groups"`
	// MaxSessions bounds the flows in progress (default 1000).
	MaxSessions int `yaml:"max_sessions"`
}

// Entitlement is what members of one provider group get. The fields of
// a static user (login.User: acls, organization, properties,
// broker_permissions, opa_policy…) are written inline; username,
// password and callerid are not used here: the caller id is
// CallerIDPrefix + the username claim.
type Entitlement struct {
	Group string `yaml:"group"`
	// CallerIDPrefix is the caller id's "<kind>=" (default "up=").
	CallerIDPrefix string `yaml:"callerid_prefix"`
	// Validity, when set, caps the token lifetime of members.
	Validity   time.Duration `yaml:"validity"`
	login.User `yaml:",inline"`
}

// Enabled tells whether the section is configured.
func (c *Config) Enabled() bool { return c.Issuer != "" }

var prefixRe = regexp.MustCompile(`^[a-z]+=$`)

// ApplyDefaults fills the defaults in place.
func (c *Config) ApplyDefaults() {
	if len(c.Scopes) == 0 {
		c.Scopes = DefaultScopes
	}
	if c.UsernameClaim == "" {
		c.UsernameClaim = DefaultUsernameClaim
	}
	if c.GroupsClaim == "" {
		c.GroupsClaim = DefaultGroupsClaim
	}
	if len(c.SigningAlgorithms) == 0 {
		c.SigningAlgorithms = DefaultAlgorithms
	}
	if len(c.SecondFactorAMR) == 0 {
		c.SecondFactorAMR = DefaultSecondFactorAMR
	}
	if c.Validity <= 0 {
		c.Validity = login.DefaultValidity
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	for i := range c.Groups {
		g := &c.Groups[i]
		if g.CallerIDPrefix == "" {
			g.CallerIDPrefix = DefaultCallerPrefix
		}
		if g.Organization == "" {
			g.Organization = login.DefaultOrganization
		}
		g.ACLs = append(g.ACLs, g.Agents...)
		g.Agents = nil
	}
}

// Validate checks the section (after ApplyDefaults); every problem is
// reported.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...))
	}
	if u, err := url.Parse(c.Issuer); err != nil || u.Scheme != "https" && !isLoopbackURL(u) {
		bad("issuer %q must be an https URL (http only on a loopback address, for tests)", c.Issuer)
	}
	if c.ClientID == "" {
		bad("client_id is required")
	}
	if c.ClientSecret != "" && c.ClientSecretFile != "" {
		bad("client_secret and client_secret_file are exclusive")
	}
	if !slices.Contains(c.Scopes, "openid") {
		bad("scopes must include openid")
	}
	for _, a := range c.SigningAlgorithms {
		if !slices.Contains(DefaultAlgorithms, a) {
			bad("signing_algorithms: %q is not allowed (one of %v; never none or HMAC)", a, DefaultAlgorithms)
		}
	}
	if len(c.Groups) == 0 {
		bad("groups: at least one group must be entitled, or no one can log in")
	}
	seen := map[string]bool{}
	for i, g := range c.Groups {
		if err := validateGroup(&g); err != nil {
			bad("groups #%d %q: %v", i+1, g.Group, err)
		}
		if seen[g.Group] {
			bad("group %q is listed twice", g.Group)
		}
		seen[g.Group] = true
	}
	return errors.Join(errs...)
}

func validateGroup(g *Entitlement) error {
	switch {
	case g.Group == "":
		return errors.New("group is required")
	case g.Username != "" || g.Password != "" || g.CallerID != "":
		return errors.New("username, password and callerid belong to static users; a group has callerid_prefix")
	case !prefixRe.MatchString(g.CallerIDPrefix):
		return fmt.Errorf("callerid_prefix %q must be of the form <kind>=", g.CallerIDPrefix)
	case g.Validity < 0:
		return errors.New("validity must not be negative")
	}
	for _, a := range g.ACLs {
		if err := login.ValidateACL(a); err != nil {
			return err
		}
	}
	return nil
}

func isLoopbackURL(u *url.URL) bool {
	h := u.Hostname()
	return u.Scheme == "http" && (h == "localhost" || h == "127.0.0.1" || h == "::1")
}
