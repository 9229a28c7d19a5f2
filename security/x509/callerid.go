package x509

import "strings"

// parseCallerID splits an anchored callerid: `^[a-z]+=([\w.\-]+)$`
// (docs/protocol.md §4, W9), or `^[a-z]+=email:(addr)$` where addr is
// `[\w.\-+]+@[\w.\-]+`, the form that binds to an email SAN (§8.1). The
// certname returned for the email form keeps its "email:" prefix.
// Hand-written: it runs on every request.
func parseCallerID(s string) (kind, certname string, ok bool) {
	i := strings.IndexByte(s, '=')
	if i <= 0 || !isCallerKind(s[:i]) {
		return "", "", false
	}
	kind, certname = s[:i], s[i+1:]
	if addr, isEmail := strings.CutPrefix(certname, "email:"); isEmail {
		local, domain, found := strings.Cut(addr, "@")
		if !found || !allBytes(local, isNameByte, '+') || !allBytes(domain, isNameByte, 0) {
			return "", "", false
		}
		return kind, certname, true
	}
	if !allBytes(certname, isNameByte, 0) {
		return "", "", false
	}
	return kind, certname, true
}

func isCallerKind(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return true
}

// isNameByte is [\w.\-] in RE2's ASCII sense.
func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
}

// allBytes reports whether s is non-empty and every byte satisfies ok or
// equals extra (when extra is not 0).
func allBytes(s string, ok func(byte) bool, extra byte) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) && (extra == 0 || s[i] != extra) {
			return false
		}
	}
	return true
}
