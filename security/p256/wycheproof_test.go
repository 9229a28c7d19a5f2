package p256

import (
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// wycheproofFile is the part of a Wycheproof EcdsaVerify file the test
// reads (schema ecdsa_verify_schema_v1.json).
type wycheproofFile struct {
	Algorithm     string `json:"algorithm"`
	NumberOfTests int    `json:"numberOfTests"`
	TestGroups    []struct {
		PublicKey struct {
			Curve        string `json:"curve"`
			Uncompressed string `json:"uncompressed"`
		} `json:"publicKey"`
		SHA   string `json:"sha"`
		Tests []struct {
			TCID    int      `json:"tcId"`
			Comment string   `json:"comment"`
			Flags   []string `json:"flags"`
			Msg     string   `json:"msg"`
			Sig     string   `json:"sig"`
			Result  string   `json:"result"`
		} `json:"tests"`
	} `json:"testGroups"`
}

func readWycheproof(t *testing.T, name string) *wycheproofFile {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name+".json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var w wycheproofFile
	if err := json.NewDecoder(z).Decode(&w); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &w
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWycheproof runs the Wycheproof ECDSA P-256 vectors (testdata/README.md):
// "valid" must be accepted, "invalid" refused, and "acceptable" answered
// as crypto/ecdsa answers.
func TestWycheproof(t *testing.T) {
	for _, name := range []string{"ecdsa_secp256r1_sha256_test", "ecdsa_secp256r1_sha512_test"} {
		t.Run(name, func(t *testing.T) {
			w := readWycheproof(t, name)
			ran := 0
			for _, g := range w.TestGroups {
				if g.PublicKey.Curve != "secp256r1" {
					t.Fatalf("group on curve %q", g.PublicKey.Curve)
				}
				pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), mustHex(t, g.PublicKey.Uncompressed))
				if err != nil {
					t.Fatalf("public key %s: %v", g.PublicKey.Uncompressed, err)
				}
				k := mustPublicKey(t, pub)
				for _, tc := range g.Tests {
					msg := mustHex(t, tc.Msg)
					var hash []byte
					switch g.SHA {
					case "SHA-256":
						h := sha256.Sum256(msg)
						hash = h[:]
					case "SHA-512":
						h := sha512.Sum512(msg)
						hash = h[:]
					default:
						t.Fatalf("hash %q", g.SHA)
					}
					sig := mustHex(t, tc.Sig)
					got := k.VerifyASN1(hash, sig)
					var want bool
					switch tc.Result {
					case "valid":
						want = true
					case "invalid":
						want = false
					case "acceptable":
						want = ecdsa.VerifyASN1(pub, hash, sig)
					default:
						t.Fatalf("tcId %d: result %q", tc.TCID, tc.Result)
					}
					if got != want {
						t.Errorf("tcId %d (%s, %v, %s): VerifyASN1 = %v, want %v", tc.TCID, tc.Comment, tc.Flags, tc.Result, got, want)
					}
					ran++
				}
			}
			if ran != w.NumberOfTests || ran == 0 {
				t.Errorf("ran %d vectors, the file has %d", ran, w.NumberOfTests)
			}
		})
	}
}
