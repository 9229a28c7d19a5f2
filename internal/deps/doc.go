// Package deps holds no code. Its test holds the house's import rules:
// which of our packages may import which (the layering of the request
// path: connector → security → server → aaa → agents, with client beside
// server), that config and the wire protocol stay leaves, and that no
// product binary links test support. A violation prints the import chain
// that breaks the rule.
package deps
