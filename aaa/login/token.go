package login

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// JWT constants (docs/signer-api.md §3).
const (
	// Purpose is the purpose claim of a client token.
	Purpose = "choria_client_id"
	// Issuer is the iss claim, as aaasvc writes it.
	Issuer = "Choria Userlist Authenticator"
	// DefaultValidity is a token's lifetime when none is configured.
	DefaultValidity = time.Hour
	// ClockSkew is the tolerance for nbf and iat in the future.
	ClockSkew = 5 * time.Second
)

// Token errors, for errors.Is. ErrTokenExpired is separate so clients can
// say "run tutti login".
var (
	ErrTokenInvalid = errors.New("invalid token")
	ErrTokenExpired = errors.New("token expired")
)

// Permissions is the permissions claim (broker and feature rights).
type Permissions struct {
	StreamsAdmin          bool `json:"streams_admin,omitempty"`
	StreamsUser           bool `json:"streams_user,omitempty"`
	EventsViewer          bool `json:"events_viewer,omitempty"`
	ElectionUser          bool `json:"election_user,omitempty"`
	SystemUser            bool `json:"system_user,omitempty"`
	Governor              bool `json:"governor,omitempty"`
	OrgAdmin              bool `json:"org_admin,omitempty"`
	FleetManagement       bool `json:"fleet_management,omitempty"`
	SignedFleetManagement bool `json:"signed_fleet_management,omitempty"`
	Service               bool `json:"service,omitempty"`
	AuthDelegator         bool `json:"authentication_delegator,omitempty"`
	Provisioner           bool `json:"provisioner,omitempty"`
}

// permissionsFrom maps a users file broker_permissions object. Unknown
// names are ignored, as aaasvc does.
func permissionsFrom(m map[string]bool) *Permissions {
	if len(m) == 0 {
		return nil
	}
	return &Permissions{
		StreamsAdmin: m["streams_admin"], StreamsUser: m["streams_user"],
		EventsViewer: m["events_viewer"], ElectionUser: m["election_user"],
		SystemUser: m["system_user"], Governor: m["governor"], OrgAdmin: m["org_admin"],
		FleetManagement: m["fleet_management"], SignedFleetManagement: m["signed_fleet_management"],
		Service: m["service"], AuthDelegator: m["authentication_delegator"], Provisioner: m["provisioner"],
	}
}

// Claims is a client token's claims, exactly as aaasvc writes them.
type Claims struct {
	CallerID       string            `json:"callerid"`
	Agents         []string          `json:"agents,omitempty"`
	OPAPolicy      string            `json:"opa_policy,omitempty"`
	OU             string            `json:"ou,omitempty"`
	UserProperties map[string]string `json:"user_properties,omitempty"`
	Permissions    *Permissions      `json:"permissions,omitempty"`
	Purpose        string            `json:"purpose"`
	PublicKey      string            `json:"public_key,omitempty"`
	PubSubjects    []string          `json:"pub_subjects,omitempty"`
	SubSubjects    []string          `json:"sub_subjects,omitempty"`
	// Approve is tutti's approve claim: the actions this caller may
	// approve for others (User.Approve).
	Approve []string `json:"approve,omitempty"`
	jwt.RegisteredClaims
}

// TokenSigner issues client tokens with the login service's key.
type TokenSigner struct {
	key      crypto.Signer
	method   jwt.SigningMethod
	validity time.Duration
	now      func() time.Time
}

// NewTokenSigner signs with key (RSA → RS256, ed25519 → EdDSA). A zero
// validity means DefaultValidity; now nil means time.Now.
func NewTokenSigner(key crypto.Signer, validity time.Duration, now func() time.Time) (*TokenSigner, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: no signing key", ErrKey)
	}
	if err := checkJWTKey(key.Public()); err != nil {
		return nil, err
	}
	var method jwt.SigningMethod = jwt.SigningMethodEdDSA
	if _, ok := key.Public().(*rsa.PublicKey); ok {
		method = jwt.SigningMethodRS256
	}
	if validity <= 0 {
		validity = DefaultValidity
	}
	if now == nil {
		now = time.Now
	}
	return &TokenSigner{key: key, method: method, validity: validity, now: now}, nil
}

// Algorithm is the JWT alg the signer writes (RS256 or EdDSA).
func (s *TokenSigner) Algorithm() string { return s.method.Alg() }

// Issue returns a signed token for u, bound to the user's ed25519 public
// key (the public_key claim).
func (s *TokenSigner) Issue(u *User, publicKey ed25519.PublicKey) (string, error) {
	now := s.now().Truncate(time.Second)
	c := &Claims{
		CallerID:       u.CallerID,
		Agents:         u.ACLs,
		OPAPolicy:      u.OPAPolicy,
		OU:             u.Organization,
		UserProperties: u.Properties,
		Permissions:    permissionsFrom(u.BrokerPermissions),
		Purpose:        Purpose,
		PublicKey:      hex.EncodeToString(publicKey),
		Approve:        u.Approve,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: Issuer,
			// tutti: the user name, which token revocation by user
			// matches (aaasvc writes no sub; Choria ignores it).
			Subject:   u.Username,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(s.validity)),
			ID:        NewKSUID(now),
		},
	}
	tok, err := jwt.NewWithClaims(s.method, c).SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("sign JWT: %w", err)
	}
	return tok, nil
}

// TokenVerifier checks client tokens (docs/signer-api.md §4 check 2).
type TokenVerifier struct {
	key         crypto.PublicKey
	methods     []string
	maxValidity time.Duration
	now         func() time.Time
}

// NewTokenVerifier verifies with pub. The accepted algorithms are pinned
// by the key type (RSA: RS256/RS384/RS512; ed25519: EdDSA), so "none",
// HMAC and algorithm confusion are refused. Tokens living longer than
// maxValidity (exp − now) are refused unless their permissions claim
// says service; maxValidity must be positive.
func NewTokenVerifier(pub crypto.PublicKey, maxValidity time.Duration, now func() time.Time) (*TokenVerifier, error) {
	if err := checkJWTKey(pub); err != nil {
		return nil, err
	}
	if maxValidity <= 0 {
		return nil, fmt.Errorf("%w: max_validity must be positive", ErrKey)
	}
	methods := []string{jwt.SigningMethodEdDSA.Alg()}
	if _, ok := pub.(*rsa.PublicKey); ok {
		methods = []string{"RS256", "RS384", "RS512"}
	}
	if now == nil {
		now = time.Now
	}
	return &TokenVerifier{key: pub, methods: methods, maxValidity: maxValidity, now: now}, nil
}

// Verify checks token's signature, algorithm, exp (required), nbf and
// iat (5 s skew), purpose and lifetime, and returns its claims. Errors
// wrap ErrTokenExpired or ErrTokenInvalid.
func (v *TokenVerifier) Verify(token string) (*Claims, error) {
	now := v.now()
	p := jwt.NewParser(
		jwt.WithValidMethods(v.methods),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(ClockSkew),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	var c Claims
	_, err := p.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return v.key, nil })
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, fmt.Errorf("%w: %w", ErrTokenExpired, err)
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrTokenInvalid, err)
	case c.Purpose != Purpose:
		return nil, fmt.Errorf("%w: purpose %q is not %q", ErrTokenInvalid, c.Purpose, Purpose)
	case c.CallerID == "":
		return nil, fmt.Errorf("%w: no callerid claim", ErrTokenInvalid)
	case !now.Before(c.ExpiresAt.Time):
		// The parser's leeway is for nbf/iat skew; exp is strict.
		return nil, fmt.Errorf("%w: expired at %s", ErrTokenExpired, c.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if left := c.ExpiresAt.Sub(now); left > v.maxValidity+ClockSkew && (c.Permissions == nil || !c.Permissions.Service) {
		return nil, fmt.Errorf("%w: token is valid for another %s, more than max_validity %s",
			ErrTokenInvalid, left.Round(time.Second), v.maxValidity)
	}
	return &c, nil
}

// ksuidEpoch is the KSUID epoch (2014-05-13T16:53:20Z).
const ksuidEpoch = 1400000000

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NewKSUID returns a 27 character KSUID (4 bytes of time since the KSUID
// epoch, 16 random bytes, base62), the jti format aaasvc uses.
func NewKSUID(t time.Time) string {
	var b [20]byte
	binary.BigEndian.PutUint32(b[:4], uint32(t.Unix()-ksuidEpoch))
	if _, err := rand.Read(b[4:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	n := new(big.Int).SetBytes(b[:])
	out := make([]byte, 27)
	base := big.NewInt(62)
	mod := new(big.Int)
	for i := len(out) - 1; i >= 0; i-- {
		n.DivMod(n, base, mod)
		out[i] = base62[mod.Int64()]
	}
	return string(out)
}
