package mcollective

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // the ssl plugin's signature is RSA over SHA-1: wire compatibility
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// ErrSignature is wrapped by every failed signature check.
var ErrSignature = errors.New("mcollective signature")

// maxHashText bounds the base64 signature text (an 8192-bit key's
// signature is 1 366 characters plus line breaks).
const maxHashText = 2048

// Sign signs body as the ssl plugin does (RSASSA-PKCS1-v1_5 over SHA-1)
// and returns the signature as Ruby's Base64.encode64 writes it: lines
// of 60 characters, each ending in a newline.
func Sign(key *rsa.PrivateKey, body []byte) (string, error) {
	sum := sha1.Sum(body) //nolint:gosec // wire compatibility
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA1, sum[:])
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return mimeBase64(sig), nil
}

func mimeBase64(b []byte) string {
	enc := base64.StdEncoding.EncodeToString(b)
	var sb strings.Builder
	for len(enc) > 0 {
		n := min(60, len(enc))
		sb.WriteString(enc[:n])
		sb.WriteByte('\n')
		enc = enc[n:]
	}
	return sb.String()
}

// Verify checks hash (base64, line breaks allowed) as pub's signature of
// body. The bytes checked are body exactly as received.
func Verify(pub *rsa.PublicKey, body []byte, hash string) error {
	if len(hash) > maxHashText {
		return fmt.Errorf("%w: signature text of %d bytes", ErrSignature, len(hash))
	}
	sig, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(hash), ""))
	if err != nil {
		return fmt.Errorf("%w: signature is not base64: %w", ErrSignature, err)
	}
	sum := sha1.Sum(body) //nolint:gosec // wire compatibility
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA1, sum[:], sig); err != nil {
		return fmt.Errorf("%w: %w", ErrSignature, err)
	}
	return nil
}
