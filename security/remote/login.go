package remote

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// LoginOptions are what a login needs.
type LoginOptions struct {
	// URLs are login endpoints (plugin.login.aaasvc.login.url); one is
	// picked at random, the others are tried when it is unreachable.
	URLs           []string
	User, Password string
	// TokenFile receives the JWT (mode 0600). Required.
	TokenFile string
	// SeedFile receives the new ed25519 seed (mode 0600); default
	// DefaultSeedFile(TokenFile).
	SeedFile string
	// CA verifies the login service's TLS certificate; empty: system roots.
	CA       string
	Insecure bool
	// HTTPClient replaces the client built from CA/Insecure (tests).
	HTTPClient *http.Client
	// Now is the clock for the login timestamp; nil means time.Now.
	Now func() time.Time
	// OTP is asked for the one-time code when the service answers that
	// the user has a second factor (second_factor "totp"); nil: such a
	// login fails with ErrSecondFactor.
	OTP func() (string, error)
}

// ErrSecondFactor means the password was right but the user has a
// second factor and no code could be asked for.
var ErrSecondFactor = errors.New("login: this user has a second factor: a one-time code is needed")

type loginBody struct {
	Username  string `json:"username"`
	Password  string `json:"password"`
	Timestamp string `json:"timestamp"`
	PublicKey string `json:"public_key"`
	Signature string `json:"signature"`
	OTP       string `json:"otp,omitempty"`
}

// signedLoginBody signs a login body with priv at now; the signature
// covers the code when there is one (docs/signer-api.md §2).
func signedLoginBody(priv ed25519.PrivateKey, now time.Time, user, password, otp string) loginBody {
	ts := strconv.FormatInt(now.Unix(), 10)
	msg := ts + ":" + user + ":" + password
	if otp != "" {
		msg += ":" + otp
	}
	return loginBody{Username: user, Password: password, Timestamp: ts, OTP: otp,
		PublicKey: hex.EncodeToString(priv.Public().(ed25519.PublicKey)),
		Signature: hex.EncodeToString(ed25519.Sign(priv, []byte(msg)))}
}

// Login makes a fresh ed25519 key, logs in with it (docs/signer-api.md §2) and, on
// success only, writes the seed and the token (both 0600), so a failed
// login leaves a working older token in place. A refusal matches
// ErrLoginFailed; an unreachable service ErrUnreachable.
func Login(ctx context.Context, o LoginOptions) (string, error) {
	if len(o.URLs) == 0 {
		return "", errors.New("login: no login URL (plugin.login.aaasvc.login.url)")
	}
	if o.TokenFile == "" {
		return "", errors.New("login: no token file (plugin.choria.security.request_signer.token_file)")
	}
	if o.User == "" {
		return "", errors.New("login: no user name")
	}
	client := o.HTTPClient
	if client == nil {
		var err error
		if client, err = httpClient(o.CA, o.Insecure, 0); err != nil {
			return "", err
		}
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("login: make key: %w", err)
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	token, factor, err := postLogin(ctx, client, o.URLs, signedLoginBody(priv, now(), o.User, o.Password, ""))
	if err == nil && factor != "" {
		token, err = secondFactor(ctx, client, o, priv, now, factor)
	}
	if err != nil {
		return "", err
	}
	seedFile := o.SeedFile
	if seedFile == "" {
		seedFile = DefaultSeedFile(o.TokenFile)
	}
	if err := writePrivate(expandHome(seedFile), []byte(hex.EncodeToString(priv.Seed()))); err != nil {
		return "", fmt.Errorf("login: write seed: %w", err)
	}
	if err := writePrivate(expandHome(o.TokenFile), []byte(token)); err != nil {
		return "", fmt.Errorf("login: write token: %w", err)
	}
	return token, nil
}

// secondFactor asks for the one-time code and logs in again with it.
func secondFactor(ctx context.Context, c *http.Client, o LoginOptions, priv ed25519.PrivateKey,
	now func() time.Time, factor string) (string, error) {
	if factor != "totp" {
		return "", fmt.Errorf("%w: the service asks for a second factor this client does not know (%q)", ErrLoginFailed, factor)
	}
	if o.OTP == nil {
		return "", ErrSecondFactor
	}
	code, err := o.OTP()
	if err != nil {
		return "", fmt.Errorf("login: one-time code: %w", err)
	}
	if code == "" {
		return "", ErrSecondFactor
	}
	token, factor, err := postLogin(ctx, c, o.URLs, signedLoginBody(priv, now(), o.User, o.Password, code))
	if err == nil && factor != "" {
		return "", fmt.Errorf("%w: the one-time code was not accepted", ErrLoginFailed)
	}
	return token, err
}

// postLogin tries the URLs from a random start until one answers. It
// returns the token, or the second factor the service asks for.
func postLogin(ctx context.Context, c *http.Client, urls []string, body loginBody) (string, string, error) {
	start := 0
	if n, err := rand.Int(rand.Reader, big.NewInt(int64(len(urls)))); err == nil {
		start = int(n.Int64())
	}
	var errs []error
	for i := range urls {
		url := urls[(start+i)%len(urls)]
		var ans struct {
			Token        string `json:"token"`
			Error        string `json:"error"`
			SecondFactor string `json:"second_factor"`
		}
		err := postJSON(ctx, c, url, body, &ans)
		var se *StatusError
		switch {
		case errors.Is(err, ErrUnreachable):
			errs = append(errs, err)
			continue
		case errors.As(err, &se) && se.Status == http.StatusTooManyRequests:
			return "", "", fmt.Errorf("%w: too many failed attempts, retry after %ss", ErrLoginFailed, se.RetryAfter)
		case err != nil:
			return "", "", fmt.Errorf("login: %w", err)
		case ans.SecondFactor != "" && ans.Token == "":
			return "", ans.SecondFactor, nil
		case ans.Error != "":
			return "", "", fmt.Errorf("%w: %s", ErrLoginFailed, ans.Error)
		case ans.Token == "":
			return "", "", fmt.Errorf("login: %s answered without a token", url)
		}
		return ans.Token, "", nil
	}
	return "", "", fmt.Errorf("login: %w", errors.Join(errs...))
}

// writePrivate writes data to path with mode 0600 via a temporary file
// and a rename, creating the directory (0700) when needed.
func writePrivate(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tutti-login-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // no-op after the rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
