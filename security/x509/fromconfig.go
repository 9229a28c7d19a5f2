package x509

import "github.com/tuttifleet/tutti/config"

// ConfigFrom maps the plugin.security.* section of a node's, a broker's
// or a client's configuration onto the provider's Config. It lives here,
// beside the provider, so every binary builds its provider the same way
// without importing another binary's wiring.
func ConfigFrom(s config.Security) Config {
	return Config{
		CertFile: s.CertFile, KeyFile: s.KeyFile, CAFile: s.CAFile, CRLFile: s.CRLFile,
		CertnameAllow: s.CertnameAllow, Privileged: s.Privileged, PrivilegedCallerKinds: s.PrivilegedCallerKinds,
		AllowLegacyCerts: s.AllowLegacyCerts,
	}
}
