package sso

import "github.com/tuttifleet/tutti/aaa/sso/ssoconfig"

// The oidc_authenticator configuration lives in ssoconfig, which links
// no OpenID Connect client; these are its names here.
type (
	// Config is the oidc_authenticator section of tutti-aaa's configuration.
	Config = ssoconfig.Config
	// Entitlement maps an identity provider group to a user.
	Entitlement = ssoconfig.Entitlement
)

// ErrConfig is wrapped by every refusal of an oidc_authenticator section.
var ErrConfig = ssoconfig.ErrConfig

// Flow lifetimes (ssoconfig).
const (
	DefaultCodeTimeout = ssoconfig.DefaultCodeTimeout
	MaxDeviceTimeout   = ssoconfig.MaxDeviceTimeout
)
