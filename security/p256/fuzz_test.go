package p256

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"math/big"
	"testing"
)

// fuzzKeys are fixed private keys, so that a corpus entry means the same
// thing on every run.
func fuzzKeys(f *testing.F) []*ecdsa.PrivateKey {
	f.Helper()
	var keys []*ecdsa.PrivateKey
	for _, seed := range []string{"tutti fuzz key 0", "tutti fuzz key 1", "tutti fuzz key 2"} {
		h := sha256.Sum256([]byte(seed))
		d := new(big.Int).SetBytes(h[:])
		d.Mod(d, order)
		priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d.FillBytes(make([]byte, 32)))
		if err != nil {
			f.Fatal(err)
		}
		keys = append(keys, priv)
	}
	return keys
}

// FuzzVerifyASN1 checks that PublicKey.VerifyASN1 answers as
// crypto/ecdsa.VerifyASN1 for any hash and signature bytes.
func FuzzVerifyASN1(f *testing.F) {
	privs := fuzzKeys(f)
	keys := make([]*PublicKey, len(privs))
	for i, priv := range privs {
		keys[i] = mustPublicKey(f, &priv.PublicKey)
	}
	for i, priv := range privs {
		for _, hl := range hashLens {
			hash := make([]byte, hl)
			rand.Read(hash)
			f.Add(uint8(i), hash, mustSign(f, priv, hash))
		}
	}
	f.Add(uint8(0), []byte{}, []byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, key uint8, hash, sig []byte) {
		i := int(key) % len(keys)
		want := ecdsa.VerifyASN1(&privs[i].PublicKey, hash, sig)
		if got := keys[i].VerifyASN1(hash, sig); got != want {
			t.Errorf("key %d: VerifyASN1(hash %x, sig %x) = %v, crypto/ecdsa says %v", i, hash, sig, got, want)
		}
	})
}
