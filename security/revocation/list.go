package revocation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tuttifleet/tutti/security/x509"
)

// TokenRevocation is one entry of tutti-aaa's TokenBucket: a login token
// (Key jti.<token id>) or every token of a user (Key user.<name>)
// revoked.
type TokenRevocation struct {
	Key       string    `json:"-"`
	User      string    `json:"user"`
	JTI       string    `json:"jti"`
	RevokedAt time.Time `json:"revoked_at"`
	By        string    `json:"by"`
	Reason    string    `json:"reason"`
}

// maxTokenRevocation bounds one value: it is a handful of short fields.
const maxTokenRevocation = 16 << 10

// ParseTokenRevocation decodes the value stored under key. The key must
// be jti.<id> or user.<name> and agree with the value's jti or user.
func ParseTokenRevocation(key string, value []byte) (TokenRevocation, error) {
	var r TokenRevocation
	if len(value) > maxTokenRevocation {
		return r, fmt.Errorf("token revocation %s: %d bytes, more than %d", key, len(value), maxTokenRevocation)
	}
	kind, id, ok := strings.Cut(key, ".")
	if !ok || id == "" || (kind != "jti" && kind != "user") {
		return r, fmt.Errorf("token revocation key %q: want jti.<token id> or user.<name>", key)
	}
	d := json.NewDecoder(bytes.NewReader(value))
	if err := d.Decode(&r); err != nil {
		return r, fmt.Errorf("token revocation %s: %w", key, err)
	}
	if kind == "jti" && r.JTI != id || kind == "user" && r.User != id {
		return r, fmt.Errorf("token revocation %s names %s %q", key, kind, map[bool]string{true: r.JTI, false: r.User}[kind == "jti"])
	}
	r.Key = key
	return r, nil
}

// RevokedCert is one certificate listed by a CRL of the bucket.
type RevokedCert struct {
	Serial    *big.Int
	Subject   string // "" when not known
	Issuer    string
	RevokedAt time.Time
	Reason    int // RFC 5280 reason code
	CRLNumber *big.Int
}

// ReasonText names an RFC 5280 reason code.
func ReasonText(code int) string {
	names := []string{"unspecified", "key compromise", "CA compromise", "affiliation changed", "superseded",
		"cessation of operation", "certificate hold", "", "remove from CRL", "privilege withdrawn", "AA compromise"}
	if code >= 0 && code < len(names) && names[code] != "" {
		return names[code]
	}
	return fmt.Sprintf("reason %d", code)
}

// ErrNoBucket is returned by the listings when the bucket does not exist.
var ErrNoBucket = errors.New("bucket absent")

// ListCRLs lists the certificates revoked by the latest CRL of each CA
// in the CRL bucket. The CRLs are parsed but not verified: the listing
// shows what the bucket holds; nodes verify before they apply.
func ListCRLs(ctx context.Context, nc *nats.Conn) ([]RevokedCert, error) {
	var out []RevokedCert
	err := eachValue(ctx, nc, CRLBucket, func(key string, v []byte) error {
		crl, err := x509.ParseCRL(v)
		if err != nil {
			return fmt.Errorf("%s key %s: %w", CRLBucket, key, err)
		}
		for _, e := range crl.RevokedCertificateEntries {
			out = append(out, RevokedCert{Serial: e.SerialNumber, Issuer: crl.Issuer.String(),
				RevokedAt: e.RevocationTime, Reason: e.ReasonCode, CRLNumber: crl.Number})
		}
		return nil
	})
	slices.SortFunc(out, func(a, b RevokedCert) int { return a.RevokedAt.Compare(b.RevokedAt) })
	return out, err
}

// ListTokens lists tutti-aaa's token revocations, oldest first. An entry
// that does not decode is an error naming its key.
func ListTokens(ctx context.Context, nc *nats.Conn) ([]TokenRevocation, error) {
	var out []TokenRevocation
	err := eachValue(ctx, nc, TokenBucket, func(key string, v []byte) error {
		r, err := ParseTokenRevocation(key, v)
		if err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	slices.SortFunc(out, func(a, b TokenRevocation) int { return a.RevokedAt.Compare(b.RevokedAt) })
	return out, err
}

// eachValue calls fn with the latest value of every key of bucket.
func eachValue(ctx context.Context, nc *nats.Conn, bucket string, fn func(key string, v []byte) error) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	kv, err := js.KeyValue(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return fmt.Errorf("%s: %w", bucket, ErrNoBucket)
	}
	if err != nil {
		return fmt.Errorf("open bucket %s: %w", bucket, err)
	}
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("read bucket %s: %w", bucket, err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("read bucket %s: %w", bucket, ctx.Err())
		case e, ok := <-w.Updates():
			if !ok || e == nil {
				return nil
			}
			if err := fn(e.Key(), e.Value()); err != nil {
				return err
			}
		}
	}
}
