// Package p256 verifies ECDSA P-256 signatures with a per-key table,
// for a key that signs many messages: a tutti node checks the same
// caller's key request after request.
//
// It handles public data only (public keys, signatures, hashes) and is
// variable-time; it must never be used with a secret scalar.
//
// PublicKey.VerifyASN1 gives exactly the answer of crypto/ecdsa.VerifyASN1
// for a P-256 key, which the tests check against crypto/ecdsa on random
// and mutated signatures, on the Wycheproof vectors and by fuzzing:
// the signature is strict DER (SEQUENCE of two minimal non-negative
// INTEGERs, nothing after it), r and s lie in [1, n-1], the hash is
// truncated to the order's 32 bytes and reduced mod n, the sum
// u1·G + u2·Q must not be the point at infinity, and its x coordinate
// mod n must equal r.
//
// # Algorithm
//
// crypto/ecdsa computes u2·Q with a constant-time variable-base
// multiplication (about 36 µs of its 52 µs). Here u2·Q is a fixed-base
// multiplication with a comb over Q (Lim–Lee): with t teeth and
// d = ceil(256/t) columns, T[b] = Σ_{bit j of b set} 2^(j·d)·Q for
// b = 1 … 2^t-1, and
//
//	R = O; for i = d-1 … 0 { R = 2R; b = Σ_j bit(u2, i+j·d)·2^j; if b != 0 { R += T[b] } }
//
// costs d doublings and at most d additions. u1·G uses nistec's
// ScalarBaseMult (constant-time, but it has its own fixed table).
//
// Measured on the tutti build host (2 shared cores, amd64,
// filippo.io/nistec v0.0.4 assembly; go test -bench 'Teeth|Verify' -count 3,
// median cpu-ns/op):
//
//	teeth  table bytes  VerifyASN1  NewPublicKey
//	stdlib –            54.1 µs     –
//	5       3016        32.6 µs      29 µs
//	6       6088        29.6 µs      42 µs
//	7      12232        26.4 µs      62 µs
//	8      24520        24.9 µs     110 µs
//
// A node keeps a table per caller key and an emulated node must stay
// near 0.1 MB, so the package uses 7 teeth: 12 KB per key for 2× the
// speed of crypto/ecdsa. 8 teeth would double the memory for 1.5 µs
// (6 %), 6 teeth would halve it but cost 3.2 µs (12 %). The remaining
// time is the comb (about 60 %, its additions being nistec's complete
// ones, a doubling included), ScalarBaseMult (20 %) and BytesX's field
// inversion (14 %). A signed-digit comb (2^(t-1) entries, an entry
// negated where needed) would give 8 teeth's speed in 12 KB.
package p256

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"
	"math/big"
	"unsafe"

	"filippo.io/nistec"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// defaultTeeth is the comb width NewPublicKey uses (see the package doc).
const defaultTeeth = 7

// order is n, the order of the P-256 base point.
var order = elliptic.P256().Params().N

// PublicKey is a P-256 public key with its comb table. It is immutable
// after NewPublicKey and safe for concurrent use.
type PublicKey struct {
	teeth, cols int
	// table[b-1] is Σ_{bit j of b set} 2^(j·cols)·Q, for b = 1 … 2^teeth-1.
	table []nistec.P256Point
}

// NewPublicKey checks pub as crypto/ecdsa does (P-256, coordinates
// reduced and on the curve) and builds its table.
func NewPublicKey(pub *ecdsa.PublicKey) (*PublicKey, error) {
	return newPublicKey(pub, defaultTeeth)
}

func newPublicKey(pub *ecdsa.PublicKey, teeth int) (*PublicKey, error) {
	if pub == nil || pub.Curve == nil || pub.X == nil || pub.Y == nil {
		return nil, errors.New("p256: incomplete public key")
	}
	if pub.Curve.Params() != elliptic.P256().Params() {
		return nil, errors.New("p256: public key is not on curve P-256")
	}
	if teeth < 1 || teeth > 16 {
		return nil, errors.New("p256: comb teeth out of range")
	}
	// As crypto/ecdsa's pointFromAffine: nistec's SetBytes then rejects
	// coordinates not below p and points not on the curve.
	if pub.X.Sign() < 0 || pub.Y.Sign() < 0 || pub.X.BitLen() > 256 || pub.Y.BitLen() > 256 {
		return nil, errors.New("p256: public key coordinates out of range")
	}
	var enc [65]byte
	enc[0] = 4
	pub.X.FillBytes(enc[1:33])
	pub.Y.FillBytes(enc[33:])
	q, err := nistec.NewP256Point().SetBytes(enc[:])
	if err != nil {
		return nil, errors.New("p256: invalid public key: " + err.Error())
	}

	k := &PublicKey{
		teeth: teeth,
		cols:  (256 + teeth - 1) / teeth,
		table: make([]nistec.P256Point, 1<<teeth-1),
	}
	// table[2^j-1] = 2^(j·cols)·Q; every other entry adds its highest
	// tooth to the entry without it.
	tooth := q
	for j := range teeth {
		if j > 0 {
			for range k.cols {
				tooth.Double(tooth)
			}
		}
		top := 1 << j
		k.table[top-1].Set(tooth)
		for b := top + 1; b < 2*top; b++ {
			k.table[b-1].Add(&k.table[b-top-1], tooth)
		}
	}
	return k, nil
}

// Size is the number of bytes the key holds, its table included, for
// memory accounting.
func (k *PublicKey) Size() int {
	return int(unsafe.Sizeof(*k)) + len(k.table)*int(unsafe.Sizeof(nistec.P256Point{}))
}

// VerifyASN1 reports whether sig is a valid ASN.1 DER ECDSA signature of
// hash by k, with the same answer as crypto/ecdsa.VerifyASN1.
func (k *PublicKey) VerifyASN1(hash, sig []byte) bool {
	rb, sb, ok := parseSignature(sig)
	if !ok {
		return false
	}
	r, s := new(big.Int).SetBytes(rb), new(big.Int).SetBytes(sb)
	if r.Sign() == 0 || r.Cmp(order) >= 0 || s.Sign() == 0 || s.Cmp(order) >= 0 {
		return false
	}
	w := new(big.Int).ModInverse(s, order) // n is prime and 0 < s < n
	u1 := hashToInt(hash)
	u1.Mul(u1, w).Mod(u1, order)
	u2 := w.Mul(w, r).Mod(w, order)

	var buf [32]byte
	p, err := nistec.NewP256Point().ScalarBaseMult(u1.FillBytes(buf[:]))
	if err != nil {
		return false
	}
	p.Add(p, k.mul(u2))
	x, err := p.BytesX() // fails for the point at infinity
	if err != nil {
		return false
	}
	v := new(big.Int).SetBytes(x)
	return v.Mod(v, order).Cmp(r) == 0
}

// mul returns u·Q by the comb, for 0 <= u < 2^256. It is variable-time.
func (k *PublicKey) mul(u *big.Int) *nistec.P256Point {
	var b [32]byte
	u.FillBytes(b[:])
	bit := func(i int) int {
		if i >= 256 {
			return 0
		}
		return int(b[31-i/8]>>(i%8)) & 1
	}
	r := nistec.NewP256Point() // the point at infinity
	started := false
	for i := k.cols - 1; i >= 0; i-- {
		if started {
			r.Double(r)
		}
		idx := 0
		for j := range k.teeth {
			idx |= bit(i+j*k.cols) << j
		}
		if idx != 0 {
			r.Add(r, &k.table[idx-1])
			started = true
		}
	}
	return r
}

// parseSignature is crypto/ecdsa's: a DER SEQUENCE of two INTEGERs,
// each minimal and non-negative, with nothing after the SEQUENCE.
func parseSignature(sig []byte) (r, s []byte, ok bool) {
	var inner cryptobyte.String
	input := cryptobyte.String(sig)
	if !input.ReadASN1(&inner, asn1.SEQUENCE) ||
		!input.Empty() ||
		!inner.ReadASN1Integer(&r) ||
		!inner.ReadASN1Integer(&s) ||
		!inner.Empty() {
		return nil, nil, false
	}
	return r, s, true
}

// hashToInt is crypto/ecdsa's hashToNat for P-256: the leftmost 32 bytes
// of hash (n has exactly 256 bits, so no bit shift), reduced mod n.
func hashToInt(hash []byte) *big.Int {
	if len(hash) > 32 {
		hash = hash[:32]
	}
	e := new(big.Int).SetBytes(hash)
	return e.Mod(e, order)
}
