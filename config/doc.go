// Package config reads tutti's configuration: Choria/MCollective-style
// `key = value` files (docs/config-reference.md) turned into typed sections.
//
// Reading happens in two steps. Parse / ParseFile check the syntax of every
// line and of every known key's value, refuse unknown top-level keys with a
// "did you mean" suggestion and collect warnings (unknown plugin.* keys,
// ignored settings, risky spellings). ServerFrom, ClientFrom and BrokerFrom
// then build the immutable typed section a program hands to its packages,
// applying the defaults of defaults.go, environment overrides and the rules
// that need more than one key. Every problem is an *Error naming file, line
// and key and wrapping a sentinel (ErrSyntax, ErrUnknownKey,
// ErrInvalidValue, ErrUnsupported); a missing file is ErrNoConfig.
//
// The key table (keytable.go) is data: KnownKeys and Reference turn it into
// documentation.
package config
