package p256

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"sync"
	"testing"

	"filippo.io/nistec"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// hashLens are the hash lengths signed and checked: shorter than the
// order, equal, and longer (truncated).
var hashLens = []int{0, 1, 20, 31, 32, 33, 48, 64}

func mustKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func mustPublicKey(t testing.TB, pub *ecdsa.PublicKey) *PublicKey {
	t.Helper()
	k, err := NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustSign(t testing.TB, priv *ecdsa.PrivateKey, hash []byte) []byte {
	t.Helper()
	sig, err := ecdsa.SignASN1(rand.Reader, priv, hash)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// derSig encodes r and s as crypto/ecdsa does (minimal, sign-correct).
func derSig(r, s *big.Int) []byte {
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1BigInt(r)
		b.AddASN1BigInt(s)
	})
	return b.BytesOrPanic()
}

// rawSig encodes the two INTEGER contents exactly as given, so that
// tests can build non-minimal and negative encodings.
func rawSig(r, s []byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.INTEGER, func(b *cryptobyte.Builder) { b.AddBytes(r) })
		b.AddASN1(asn1.INTEGER, func(b *cryptobyte.Builder) { b.AddBytes(s) })
	})
	return b.BytesOrPanic()
}

func mustParse(t testing.TB, sig []byte) (r, s *big.Int) {
	t.Helper()
	rb, sb, ok := parseSignature(sig)
	if !ok {
		t.Fatalf("cannot parse signature %x", sig)
	}
	return new(big.Int).SetBytes(rb), new(big.Int).SetBytes(sb)
}

// check compares k's answer to crypto/ecdsa's and returns it.
func check(t *testing.T, k *PublicKey, pub *ecdsa.PublicKey, what string, hash, sig []byte) bool {
	t.Helper()
	want := ecdsa.VerifyASN1(pub, hash, sig)
	if got := k.VerifyASN1(hash, sig); got != want {
		t.Errorf("%s: VerifyASN1(hash %x, sig %x) = %v, crypto/ecdsa says %v", what, hash, sig, got, want)
	}
	return want
}

// mutations returns variants of a valid signature sig = (r, s) of hash,
// each named. Some are still valid (s and n-s, for instance).
func mutations(rng *mrand.Rand, hash, sig []byte, r, s *big.Int) map[string][2][]byte {
	n := order
	one := big.NewInt(1)
	m := make(map[string][2][]byte)
	add := func(name string, h, sg []byte) { m[name] = [2][]byte{h, sg} }

	for i := range 24 {
		sg := bytes.Clone(sig)
		bit := rng.IntN(len(sg) * 8)
		sg[bit/8] ^= 1 << (bit % 8)
		add(fmt.Sprintf("sig bit %d (#%d)", bit, i), hash, sg)
	}
	for i := range 4 { // every bit of the DER header
		for bit := range 8 {
			sg := bytes.Clone(sig)
			sg[i] ^= 1 << bit
			add(fmt.Sprintf("header byte %d bit %d", i, bit), hash, sg)
		}
	}
	for _, bit := range []int{0, 1, 7, 128, 254, 255, rng.IntN(256)} {
		add(fmt.Sprintf("r bit %d", bit), hash, derSig(new(big.Int).Xor(r, new(big.Int).Lsh(one, uint(bit))), s))
		add(fmt.Sprintf("s bit %d", bit), hash, derSig(r, new(big.Int).Xor(s, new(big.Int).Lsh(one, uint(bit)))))
	}
	for i := range 8 {
		if len(hash) == 0 {
			break
		}
		h := bytes.Clone(hash)
		bit := rng.IntN(len(h) * 8)
		h[bit/8] ^= 1 << (bit % 8)
		add(fmt.Sprintf("hash bit %d (#%d)", bit, i), h, sig)
	}
	if len(hash) > 32 {
		h := bytes.Clone(hash)
		h[len(h)-1] ^= 1 // beyond the truncation: still valid
		add("hash bit past 32 bytes", h, sig)
		add("hash cut to 32 bytes", hash[:32], sig)
	}
	if len(hash) > 0 {
		add("hash cut by 1", hash[:len(hash)-1], sig)
	}
	add("hash extended by 0x00", append(bytes.Clone(hash), 0), sig)
	add("hash with leading 0x00", append([]byte{0}, hash...), sig)
	add("nil hash", nil, sig)

	for _, cut := range []int{1, 2, len(sig) / 2, len(sig) - 1} {
		add(fmt.Sprintf("sig cut by %d", cut), hash, sig[:len(sig)-cut])
	}
	add("empty sig", hash, nil)
	add("sig + 0x00", hash, append(bytes.Clone(sig), 0))
	add("sig + 0x0500", hash, append(bytes.Clone(sig), 5, 0))
	add("sig twice", hash, append(bytes.Clone(sig), sig...))
	// an extra INTEGER inside the SEQUENCE
	{
		var b cryptobyte.Builder
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1BigInt(r)
			b.AddASN1BigInt(s)
			b.AddASN1Int64(0)
		})
		add("third INTEGER", hash, b.BytesOrPanic())
	}
	// BER long-form length of the SEQUENCE
	{
		inner := sig[2:]
		sg := append([]byte{0x30, 0x81, byte(len(inner))}, inner...)
		add("long-form SEQUENCE length", hash, sg)
	}
	// indefinite length
	add("indefinite length", hash, append(append([]byte{0x30, 0x80}, sig[2:]...), 0, 0))
	// SET instead of SEQUENCE
	{
		sg := bytes.Clone(sig)
		sg[0] = 0x31
		add("SET", hash, sg)
	}

	for name, v := range map[string]*big.Int{
		"0":     big.NewInt(0),
		"1":     big.NewInt(1),
		"n-1":   new(big.Int).Sub(n, one),
		"n-2":   new(big.Int).Sub(n, big.NewInt(2)),
		"n":     n,
		"n+1":   new(big.Int).Add(n, one),
		"-1":    big.NewInt(-1),
		"-r":    new(big.Int).Neg(r),
		"2^256": new(big.Int).Lsh(one, 256),
		"2^255": new(big.Int).Lsh(one, 255),
		"p":     elliptic.P256().Params().P,
	} {
		add("r = "+name, hash, derSig(v, s))
		add("s = "+name, hash, derSig(r, v))
	}
	add("r + n", hash, derSig(new(big.Int).Add(r, n), s))
	add("s + n", hash, derSig(r, new(big.Int).Add(s, n)))
	add("s = n - s (valid)", hash, derSig(r, new(big.Int).Sub(n, s)))
	add("r, s swapped", hash, derSig(s, r))
	add("-s", hash, derSig(r, new(big.Int).Neg(s)))

	rb, sb := r.Bytes(), s.Bytes()
	add("r with extra 0x00", hash, rawSig(append([]byte{0}, rb...), sb))
	add("s with extra 0x00", hash, rawSig(rb, append([]byte{0}, sb...)))
	add("r with two extra 0x00", hash, rawSig(append([]byte{0, 0}, rb...), sb))
	add("r and s unpadded", hash, rawSig(rb, sb)) // negative when the high bit is set
	add("r as 33 bytes", hash, rawSig(r.FillBytes(make([]byte, 33)), s.FillBytes(make([]byte, 33))))
	add("empty INTEGERs", hash, rawSig(nil, nil))
	add("empty r", hash, rawSig(nil, sb))
	return m
}

// TestDifferential checks that valid signatures by random keys over
// hashes of every length are accepted, and that for each of their
// mutations PublicKey and crypto/ecdsa agree.
func TestDifferential(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(1, 2))
	keys := 12
	if testing.Short() {
		keys = 3
	}
	var accepted, refused int
	for i := range keys {
		priv := mustKey(t)
		pub := &priv.PublicKey
		k := mustPublicKey(t, pub)
		for _, hl := range hashLens {
			hash := make([]byte, hl)
			rand.Read(hash)
			sig := mustSign(t, priv, hash)
			if !k.VerifyASN1(hash, sig) {
				t.Fatalf("key %d: valid signature %x of %d-byte hash %x refused", i, sig, hl, hash)
			}
			r, s := mustParse(t, sig)
			for name, hs := range mutations(rng, hash, sig, r, s) {
				if check(t, k, pub, fmt.Sprintf("key %d hash len %d %s", i, hl, name), hs[0], hs[1]) {
					accepted++
				} else {
					refused++
				}
			}
		}
		// another key's signature
		other := mustKey(t)
		hash := sha256.Sum256([]byte("other"))
		check(t, k, pub, "other key's signature", hash[:], mustSign(t, other, hash[:]))
	}
	t.Logf("mutations: %d accepted, %d refused, all as crypto/ecdsa", accepted, refused)
	if accepted == 0 || refused == 0 {
		t.Errorf("mutations did not exercise both answers: %d accepted, %d refused", accepted, refused)
	}
}

// TestCombMatchesScalarMult checks the comb alone against nistec's
// ScalarMult, for comb widths whose columns do and do not divide 256.
func TestCombMatchesScalarMult(t *testing.T) {
	n := order
	one := big.NewInt(1)
	scalars := []*big.Int{
		big.NewInt(0), big.NewInt(1), big.NewInt(2), big.NewInt(3),
		new(big.Int).Sub(n, one), new(big.Int).Sub(n, big.NewInt(2)),
		new(big.Int).Rsh(n, 1),
		new(big.Int).Sub(new(big.Int).Lsh(one, 256), one), // all 256 bits set (above n)
	}
	for k := 0; k < 256; k += 17 {
		scalars = append(scalars, new(big.Int).Lsh(one, uint(k)))
	}
	scalars = append(scalars, new(big.Int).Lsh(one, 255))
	for range 16 {
		v, _ := rand.Int(rand.Reader, n)
		scalars = append(scalars, v)
	}
	priv := mustKey(t)
	enc, err := priv.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	q, err := nistec.NewP256Point().SetBytes(enc)
	if err != nil {
		t.Fatal(err)
	}
	for _, teeth := range []int{1, 2, 3, 5, 6, 7, 8} {
		k, err := newPublicKey(&priv.PublicKey, teeth)
		if err != nil {
			t.Fatal(err)
		}
		if k.cols*teeth < 256 {
			t.Fatalf("teeth %d: %d columns cover %d bits", teeth, k.cols, k.cols*teeth)
		}
		for _, u := range scalars {
			want, err := nistec.NewP256Point().ScalarMult(q, u.FillBytes(make([]byte, 32)))
			if err != nil {
				t.Fatal(err)
			}
			if got := k.mul(u); got.Equal(want) != 1 {
				t.Errorf("teeth %d: comb(%x)·Q = %x, ScalarMult gives %x", teeth, u, got.Bytes(), want.Bytes())
			}
		}
	}
}

// TestSumEdgeCases builds signatures from a known private key d whose
// two halves u1·G and u2·Q are opposite (the sum is the point at
// infinity, which must be refused) or equal (the addition is a
// doubling, and a correctly built signature must be accepted).
func TestSumEdgeCases(t *testing.T) {
	n := order
	for range 8 {
		priv := mustKey(t)
		pub := &priv.PublicKey
		k := mustPublicKey(t, pub)
		d := priv.D

		// Infinity: u1 = -u2·d  <=>  e = -r·d (mod n), any s.
		r, _ := rand.Int(rand.Reader, new(big.Int).Sub(n, big.NewInt(1)))
		r.Add(r, big.NewInt(1))
		s, _ := rand.Int(rand.Reader, new(big.Int).Sub(n, big.NewInt(1)))
		s.Add(s, big.NewInt(1))
		e := new(big.Int).Mul(r, d)
		e.Neg(e).Mod(e, n)
		hash := e.FillBytes(make([]byte, 32))
		if check(t, k, pub, "u1·G + u2·Q = O", hash, derSig(r, s)) {
			t.Errorf("a signature whose sum is the point at infinity was accepted")
		}

		// Doubling: u1 = u2·d, with u1 + u2·d = kk for a nonce kk, so
		// r = x(kk·G) mod n, s = 2·d·r/kk, e = d·r (mod n).
		kk, _ := rand.Int(rand.Reader, new(big.Int).Sub(n, big.NewInt(1)))
		kk.Add(kk, big.NewInt(1))
		kG, err := nistec.NewP256Point().ScalarBaseMult(kk.FillBytes(make([]byte, 32)))
		if err != nil {
			t.Fatal(err)
		}
		x, err := kG.BytesX()
		if err != nil {
			t.Fatal(err)
		}
		r = new(big.Int).SetBytes(x)
		r.Mod(r, n)
		s = new(big.Int).Mul(big.NewInt(2), d)
		s.Mul(s, r).Mul(s, new(big.Int).ModInverse(kk, n)).Mod(s, n)
		e = new(big.Int).Mul(d, r)
		e.Mod(e, n)
		hash = e.FillBytes(make([]byte, 32))
		if !check(t, k, pub, "u1·G = u2·Q", hash, derSig(r, s)) {
			t.Errorf("a valid signature whose halves are equal was refused")
		}
	}
}

func TestNewPublicKeyRefuses(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	good := mustKey(t).PublicKey
	params := elliptic.P256().Params()
	for _, tc := range []struct {
		name string
		pub  *ecdsa.PublicKey
	}{
		{"nil", nil},
		{"no curve", &ecdsa.PublicKey{X: good.X, Y: good.Y}},
		{"P-384", &p384.PublicKey},
		{"no X", &ecdsa.PublicKey{Curve: elliptic.P256(), Y: good.Y}},
		{"off the curve", &ecdsa.PublicKey{Curve: elliptic.P256(), X: good.X, Y: new(big.Int).Add(good.Y, big.NewInt(1))}},
		{"origin", &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int), Y: new(big.Int)}},
		{"X + p", &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).Add(good.X, params.P), Y: good.Y}},
		{"-Y", &ecdsa.PublicKey{Curve: elliptic.P256(), X: good.X, Y: new(big.Int).Neg(good.Y)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewPublicKey(tc.pub); err == nil {
				t.Errorf("NewPublicKey accepted an invalid key")
			}
		})
	}
}

func TestSize(t *testing.T) {
	k := mustPublicKey(t, &mustKey(t).PublicKey)
	if min := (1<<defaultTeeth - 1) * 96; k.Size() < min || k.Size() > min+256 {
		t.Errorf("Size() = %d, want a little over %d", k.Size(), min)
	}
}

// TestConcurrent verifies with one PublicKey from many goroutines; run
// it with -race.
func TestConcurrent(t *testing.T) {
	priv := mustKey(t)
	k := mustPublicKey(t, &priv.PublicKey)
	hash := sha256.Sum256([]byte("concurrent"))
	sig := mustSign(t, priv, hash[:])
	bad := bytes.Clone(sig)
	bad[len(bad)-1] ^= 1
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if !k.VerifyASN1(hash[:], sig) {
					t.Error("valid signature refused")
				}
				if k.VerifyASN1(hash[:], bad) {
					t.Error("tampered signature accepted")
				}
			}
		})
	}
	wg.Wait()
}
