// Package signertest starts a real tutti-aaa (HTTPS, random port, a
// throwaway PKI) for tests of the service and of its clients.
package signertest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	stdx509 "crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"

	"github.com/tuttifleet/tutti/aaa/login"
	"github.com/tuttifleet/tutti/aaa/signer"
	"github.com/tuttifleet/tutti/aaa/sso"
	"github.com/tuttifleet/tutti/aaa/sso/ssoconfig"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security/x509"
)

// Password is the password of every test user.
const Password = "secret"

// Options shape the environment. The zero value gives user "bob" with
// agents ["rpcutil.*","puppet.status"] and an ECDSA privileged key.
type Options struct {
	PrivilegedKey x509.KeyType
	// Users replace the default user list (passwords are set to Password).
	Users []login.User
	// Now is the service clock.
	Now func() time.Time
	// Configure edits the configuration before the service starts.
	Configure func(*signer.Config)
	// Log receives the service log; default discards it.
	Log *logrus.Entry
	// CA issues the service's certificates; default a fresh one. Give the
	// fleet's CA so nodes trust the privileged certificate.
	CA *x509.CA
}

// Env is a running tutti-aaa with its files.
type Env struct {
	Dir        string
	CA         *x509.CA
	CAFile     string
	Privileged *x509.Issued
	Config     *signer.Config
	Service    *signer.Service
	// URL is the base URL (https://127.0.0.1:port).
	URL string
	// Client trusts the test CA.
	Client *http.Client
	// PID is the service's process id when StartProcess started it.
	PID  int
	stop func(testing.TB)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func write(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	must(t, os.WriteFile(p, data, 0o600))
	return p
}

// Start builds the PKI and files and runs the service until the test ends.
func Start(t testing.TB, opts Options) *Env {
	t.Helper()
	e := Prepare(t, opts)
	log := opts.Log
	if log == nil {
		l := logrus.New()
		l.SetOutput(discard{})
		log = logrus.NewEntry(l)
	}
	var err error
	e.Service, err = signer.New(e.Config, signer.Options{Log: log, Now: opts.Now, NewSSO: NewSSO})
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Service.Run(ctx) }()
	t.Cleanup(func() {
		// Unused pooled connections would hold the graceful shutdown
		// for its whole grace period.
		e.Client.CloseIdleConnections()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("service: %v", err)
		}
	})
	select {
	case <-e.Service.Ready():
	case err := <-done:
		t.Fatalf("service did not start: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("service did not start within 10s")
	}
	e.URL = e.Service.URL()
	return e
}

// Prepare builds the PKI, the files and the configuration (e.Config)
// and the client, without starting a service: Start does that in this
// process, StartProcess in a child.
func Prepare(t testing.TB, opts Options) *Env {
	t.Helper()
	e := &Env{Dir: t.TempDir()}
	var err error
	e.CA = opts.CA
	if e.CA == nil {
		e.CA, err = x509.NewCA("tutti test CA", x509.KeyECDSA, time.Hour)
		must(t, err)
	}
	e.CAFile = write(t, e.Dir, "ca.pem", e.CA.CertPEM)
	srv, err := e.CA.Issue("localhost", x509.IssueOptions{SANs: []string{"127.0.0.1"}})
	must(t, err)
	e.Privileged, err = e.CA.Issue("aaa.privileged.mcollective", x509.IssueOptions{KeyType: opts.PrivilegedKey})
	must(t, err)
	_, jwtKey, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)

	users := opts.Users
	if users == nil {
		users = []login.User{{Username: "bob", ACLs: []string{"rpcutil.*", "puppet.status"},
			Properties: map[string]string{"group": "admins"}}}
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(Password), bcrypt.MinCost)
	must(t, err)
	for i := range users {
		users[i].Password = string(hash)
	}
	usersYAML, err := yaml.Marshal(users)
	must(t, err)

	pub := jwtKey.Public().(ed25519.PublicKey)
	cfg := &signer.Config{
		Authenticator: "userlist", Signer: "basicjwt", Port: -1, ListenAddress: "127.0.0.1",
		Site: "test", Auditors: []string{"logfile"},
		TLSCertificate: write(t, e.Dir, "server.pem", srv.CertPEM), TLSKey: write(t, e.Dir, "server.key", srv.KeyPEM),
		PrivilegedCertificate: write(t, e.Dir, "aaa.pem", e.Privileged.CertPEM),
		PrivilegedKey:         write(t, e.Dir, "aaa.key", e.Privileged.KeyPEM), PrivilegedCA: e.CAFile,
		BasicJWT: signer.BasicJWTConfig{SigningCertificate: write(t, e.Dir, "jwt.pub", []byte(hex.EncodeToString(pub))),
			MaxValidity: signer.Duration(time.Hour)},
		Userlist: signer.UserlistConfig{SigningKey: write(t, e.Dir, "jwt.seed", []byte(hex.EncodeToString(jwtKey.Seed()))),
			UsersFile: write(t, e.Dir, "users.yaml", usersYAML)},
	}
	cfg.LogfileAuditor.Logfile = filepath.Join(e.Dir, "audit.jsonl")
	cfg.LoginLimits.UserBurst, cfg.LoginLimits.AddrBurst = 3, 1000
	if opts.Configure != nil {
		opts.Configure(cfg)
	}
	e.Config = cfg
	pool := stdx509.NewCertPool()
	pool.AddCert(e.CA.Cert)
	e.Client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, MaxIdleConnsPerHost: 64}}
	return e
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Post sends body as JSON to path and decodes the JSON answer into a map.
func (e *Env) Post(t testing.TB, path string, body any) (int, map[string]string) {
	t.Helper()
	b, err := json.Marshal(body)
	must(t, err)
	resp, err := e.Client.Post(e.URL+path, "application/json", bytes.NewReader(b))
	must(t, err)
	defer resp.Body.Close()
	out := map[string]string{}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// LoginBody is a signed login body and the seed it was signed with.
func LoginBody(user, password string, now time.Time) (*login.Request, ed25519.PrivateKey) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	ts := strconv.FormatInt(now.Unix(), 10)
	return &login.Request{Username: user, Password: password, Timestamp: ts,
		PublicKey: hex.EncodeToString(pub),
		Signature: hex.EncodeToString(ed25519.Sign(priv, login.LoginMessage(ts, user, password)))}, priv
}

// Login logs user in and returns the token and the seed it is bound to.
func (e *Env) Login(t testing.TB, user string) (string, ed25519.PrivateKey) {
	t.Helper()
	body, seed := LoginBody(user, Password, time.Now())
	code, out := e.Post(t, signer.LoginPath, body)
	if code != http.StatusOK || out["token"] == "" {
		t.Fatalf("login %s: %d %v", user, code, out)
	}
	return out["token"], seed
}

// Request builds a serialised choria:request:1.
func Request(t testing.TB, agent, action, callerID string, created time.Time, ttl int) []byte {
	t.Helper()
	msg := protocol.DiscoveryPayload
	if agent != protocol.DiscoveryAgent {
		var err error
		msg, err = protocol.EncodeRPCRequest(agent, action, nil)
		must(t, err)
	}
	b, err := protocol.EncodeRequest(&protocol.Request{
		ID: protocol.NewRequestID(), SenderID: "laptop.example.net", CallerID: callerID,
		Collective: "mcollective", Agent: agent, TTL: ttl, Time: created.Unix(),
		Filter: protocol.NewFilter(agent), Message: msg,
	})
	must(t, err)
	return b
}

// SignBody is a sign request body with proof of possession by seed (nil
// seed: a bearer request).
func SignBody(token string, request []byte, seed ed25519.PrivateKey) map[string]string {
	b := map[string]string{"token": token, "request": base64.StdEncoding.EncodeToString(request)}
	if seed != nil {
		b["signature"] = hex.EncodeToString(ed25519.Sign(seed, request))
	}
	return b
}

// Sign posts a sign request and returns the decoded secure request, or
// the error_code of a refusal.
func (e *Env) Sign(t testing.TB, token string, request []byte, seed ed25519.PrivateKey) ([]byte, string) {
	t.Helper()
	code, out := e.Post(t, signer.SignPath, SignBody(token, request, seed))
	if code != http.StatusOK {
		t.Fatalf("sign: status %d %v", code, out)
	}
	if out["error"] != "" {
		if out["error"] != signer.DeniedMessage {
			t.Fatalf("refusal text %q, want %q", out["error"], signer.DeniedMessage)
		}
		return nil, out["error_code"]
	}
	sec, err := base64.StdEncoding.DecodeString(out["secure_request"])
	must(t, err)
	return sec, ""
}

// AuditRecords reads the signing records of the audit log file; the
// chain's own records (checkpoints, restarts) are left out.
func (e *Env) AuditRecords(t testing.TB) []signer.AuditRecord {
	t.Helper()
	data, err := os.ReadFile(e.Config.LogfileAuditor.Logfile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	must(t, err)
	var out []signer.AuditRecord
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var typ struct {
			Type string `json:"type"`
		}
		must(t, json.Unmarshal(line, &typ))
		if typ.Type != "" {
			continue
		}
		var r signer.AuditRecord
		must(t, json.Unmarshal(line, &r))
		out = append(out, r)
	}
	return out
}

// NewSSO is signer.Options.NewSSO running aaa/sso as tutti-aaa's single sign-on.
func NewSSO(cfg ssoconfig.Config, o signer.SSOOptions) (signer.SSO, error) {
	a, err := sso.New(cfg, sso.Options{Key: o.Key, Now: o.Now, Log: o.Log, Metrics: o.Metrics})
	if err != nil {
		return nil, err
	}
	return a, nil
}
