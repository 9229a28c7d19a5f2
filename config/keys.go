package config

import (
	"sort"
	"strings"
)

// Kind is the value syntax of a key. Parse checks the syntax of every
// known key's value; the typed builders (ServerFrom…) add semantic rules.
type Kind int

// The value kinds.
const (
	KindString   Kind = iota // any text
	KindBool                 // 1 y yes t true / 0 n no f false
	KindInt                  // decimal integer
	KindPort                 // integer 0..65535
	KindFloat                // decimal number
	KindDuration             // plain (decimal) seconds or Go syntax (10s, 1h)
	KindList                 // comma-separated, items trimmed
	KindPath                 // a path; leading ~ expands, relative to <configdir>
	KindPathList             // ':'-separated paths
	KindEnum                 // one of KeyInfo.Enum
	KindMode                 // octal file mode (0600)
)

var kindNames = [...]string{"string", "boolean", "integer", "port", "number", "duration", "list", "path", "path list", "enum", "file mode"}

// String names the kind for the reference.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Status is what tutti does with a recognised key.
type Status int

// The statuses.
const (
	// Supported keys are used.
	Supported Status = iota
	// Ignored keys are accepted with a warning and have no effect.
	Ignored
	// Unsupported keys name a feature tutti does not (yet) implement; they
	// are accepted with a warning.
	Unsupported
	// BrokerOnly keys configure the embedded broker; nodes and clients warn.
	BrokerOnly
)

var statusNames = [...]string{"supported", "ignored", "unsupported", "broker only"}

// String names the status for the reference.
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "unknown"
}

// KeyInfo describes one known key. Key may contain the pattern segment
// "<n>" (a positive integer), as in plugin.activemq.pool.<n>.host.
type KeyInfo struct {
	Key         string
	Section     string
	Kind        Kind
	Enum        []string // allowed values for KindEnum
	Default     string   // as documented; the values live in defaults.go
	Description string
	Status      Status
}

// aliases maps accepted misspellings to their canonical key; each use
// produces a warning.
var aliases = map[string]string{
	"choria.security.request_signer.token_file": "plugin.choria.security.request_signer.token_file",
}

// knownKeys is every key tutti recognises, as data. Build new entries with
// k(); keep sections together so Reference() reads well.
var knownKeys = buildKeys()

// keyIndex maps a key (pattern form) to its entry in knownKeys.
var keyIndex = func() map[string]int {
	m := make(map[string]int, len(knownKeys))
	for i, ki := range knownKeys {
		if _, dup := m[ki.Key]; dup {
			panic("config: duplicate known key " + ki.Key)
		}
		m[ki.Key] = i
	}
	return m
}()

// KnownKeys returns a copy of the key table, sorted by section then key.
func KnownKeys() []KeyInfo {
	out := make([]KeyInfo, len(knownKeys))
	copy(out, knownKeys)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Section != out[j].Section {
			return sectionRank(out[i].Section) < sectionRank(out[j].Section)
		}
		return out[i].Key < out[j].Key
	})
	return out
}

// namedFamilies are the table keys with a named segment such as
// <collective> (any one segment), split into segments.
var namedFamilies = func() [][]string {
	var out [][]string
	for _, ki := range knownKeys {
		if strings.Contains(strings.ReplaceAll(ki.Key, "<n>", ""), "<") {
			out = append(out, strings.Split(ki.Key, "."))
		}
	}
	return out
}()

// Lookup returns the table entry of key (a concrete key such as
// plugin.activemq.pool.2.host or plugin.tutti.broker.collective.dev.clients,
// or an alias).
func Lookup(key string) (KeyInfo, bool) {
	if c, ok := aliases[key]; ok {
		key = c
	}
	i, ok := keyIndex[patternOf(key)]
	if !ok {
		i, ok = keyIndex[familyOf(key)]
	}
	if !ok {
		return KeyInfo{}, false
	}
	return knownKeys[i], true
}

// familyOf is the named-segment family key matches, or "".
func familyOf(key string) string {
	segs := strings.Split(key, ".")
	for _, f := range namedFamilies {
		if len(f) == len(segs) && familyMatch(f, segs) {
			return strings.Join(f, ".")
		}
	}
	return ""
}

func familyMatch(family, segs []string) bool {
	for i, s := range family {
		named := strings.HasPrefix(s, "<") && strings.HasSuffix(s, ">") && s != "<n>"
		if segs[i] == "" || !named && s != segs[i] {
			return false
		}
	}
	return true
}

// patternOf replaces every all-digit dotted segment with "<n>".
func patternOf(key string) string {
	if !strings.ContainsAny(key, "0123456789") {
		return key
	}
	segs := strings.Split(key, ".")
	for i, s := range segs {
		if s != "" && strings.Trim(s, "0123456789") == "" {
			segs[i] = "<n>"
		}
	}
	return strings.Join(segs, ".")
}

// sections in reference order.
var sections = []string{
	"identity", "nats", "stomp", "security", "mcollective ssl", "tutti security",
	"authorization", "audit", "request signer", "facts", "registration",
	"logging", "requests", "nettest, puppet and shell agents", "broker", "federation", "legacy",
}

func sectionRank(s string) int {
	for i, n := range sections {
		if n == s {
			return i
		}
	}
	return len(sections)
}
