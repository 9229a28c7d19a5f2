// Package mcollective is MCollective 2.12's wire format with its ssl
// security plugin (docs/mcollective.md): the two-layer envelope of
// requests and replies, in either of the plugin's serializers (Ruby
// Marshal, the default, or YAML), and the RSA signature over the inner
// layer. It works on bytes and Go values only: which keys are trusted
// is the caller's business (security/mcossl).
//
// Everything outside the signed body — request id, filter, sender,
// collective, the outer agent — is unsigned in MCollective; DecodeRequest
// returns it as it came and the node treats it as a hint (W5).
package mcollective

import (
	"errors"
	"fmt"
	"regexp"

	rm "github.com/tuttifleet/tutti/connector/mcollective/rubymarshal"
)

// ErrDecode is wrapped by every refusal of a malformed message.
var ErrDecode = errors.New("mcollective message")

// Serializer is one of the ssl plugin's serializers. Nothing on the wire
// says which one a message uses: both ends are configured alike.
type Serializer interface {
	Name() string
	Marshal(v rm.Value) ([]byte, error)
	Unmarshal(b []byte) (rm.Value, error)
}

type marshalSerializer struct{}

func (marshalSerializer) Name() string { return "marshal" }

func (marshalSerializer) Marshal(v rm.Value) ([]byte, error) { return rm.Marshal(v) }

func (marshalSerializer) Unmarshal(b []byte) (rm.Value, error) {
	v, err := rm.Unmarshal(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecode, err)
	}
	return v, nil
}

// The two serializers of plugin.ssl_serializer.
var (
	Marshal Serializer = marshalSerializer{}
	YAML    Serializer = yamlSerializer{}
)

// SerializerByName maps plugin.ssl_serializer ("marshal", the default,
// or "yaml").
func SerializerByName(name string) (Serializer, error) {
	switch name {
	case "", "marshal":
		return Marshal, nil
	case "yaml":
		return YAML, nil
	}
	return nil, fmt.Errorf("unknown ssl serializer %q (want marshal or yaml)", name)
}

// callerRe is the whole callerid: MCollective's cert=([\w.\-]+) anchored
// at both ends (W9).
var callerRe = regexp.MustCompile(`^cert=([A-Za-z0-9_.\-]+)$`)

// CallerName returns <name> of a callerid cert=<name>, refusing anything
// else (xcert=alice, cert=alice/x, cert=../x).
func CallerName(callerID string) (string, error) {
	m := callerRe.FindStringSubmatch(callerID)
	if m == nil || m[1] == "." || m[1] == ".." {
		return "", fmt.Errorf("%w: callerid %q is not cert=<name> (letters, digits, '_', '.', '-')", ErrDecode, callerID)
	}
	return m[1], nil
}

// CallerID is the callerid a client with the public key file
// <name>.pem sends.
func CallerID(name string) string { return "cert=" + name }

// field helpers over a decoded hash with Symbol keys

func getStr(h *rm.Hash, key string) (string, error) {
	v, ok := h.Get(rm.Symbol(key))
	if !ok {
		return "", fmt.Errorf("%w: no :%s", ErrDecode, key)
	}
	s, ok := rm.Str(v)
	if !ok {
		return "", fmt.Errorf("%w: :%s is a %T, not a String", ErrDecode, key, v)
	}
	return s, nil
}

func getInt(h *rm.Hash, key string) (int64, error) {
	v, ok := h.Get(rm.Symbol(key))
	if !ok {
		return 0, fmt.Errorf("%w: no :%s", ErrDecode, key)
	}
	i, ok := rm.Int(v)
	if !ok {
		return 0, fmt.Errorf("%w: :%s is a %T, not an Integer", ErrDecode, key, v)
	}
	return i, nil
}

func getBytes(h *rm.Hash, key string) ([]byte, error) {
	v, ok := h.Get(rm.Symbol(key))
	if !ok {
		return nil, fmt.Errorf("%w: no :%s", ErrDecode, key)
	}
	switch b := v.(type) {
	case []byte:
		return b, nil
	case string:
		return []byte(b), nil
	}
	return nil, fmt.Errorf("%w: :%s is a %T, not a String", ErrDecode, key, v)
}

func asHash(v rm.Value, what string) (*rm.Hash, error) {
	h, ok := v.(*rm.Hash)
	if !ok {
		return nil, fmt.Errorf("%w: %s is a %T, not a Hash", ErrDecode, what, v)
	}
	return h, nil
}
