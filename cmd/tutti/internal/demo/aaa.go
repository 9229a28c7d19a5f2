package demo

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"

	"github.com/tuttifleet/tutti/aaa/login"
	"github.com/tuttifleet/tutti/aaa/signer"
	"github.com/tuttifleet/tutti/security/x509"
)

// writeLoginKey writes the demo login service's ed25519 token key to
// dir/jwt.seed and its public half to dir/jwt.pub (the broker's
// plugin.choria.network.client_signer_cert).
func writeLoginKey(dir string) error {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "jwt.pub"), hex.EncodeToString(pub), 0o644); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, "jwt.seed"), hex.EncodeToString(key.Seed()), 0o600)
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// aaaConfig issues tutti-aaa's certificates from the fleet's CA, writes
// them and a user list with alice and a fresh password to the fleet's
// aaa directory, and returns the service's config and alice's password.
func aaaConfig(fleet *Fleet) (*signer.Config, string, error) {
	dir := filepath.Join(fleet.Dir, "aaa")
	pki := filepath.Join(fleet.Dir, "pki")
	ca, err := x509.LoadCADir(pki)
	if err != nil {
		return nil, "", err
	}
	srv, err := ca.Issue("localhost", x509.IssueOptions{SANs: []string{"127.0.0.1"}})
	if err != nil {
		return nil, "", err
	}
	priv, err := ca.Issue("aaa.privileged.mcollective", x509.IssueOptions{})
	if err != nil {
		return nil, "", err
	}
	password, err := randomHex(8)
	if err != nil {
		return nil, "", err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		return nil, "", err
	}
	users, err := yaml.Marshal([]login.User{{Username: "alice", Password: string(hash), ACLs: []string{"rpcutil.*"}}})
	if err != nil {
		return nil, "", err
	}
	files := map[string][]byte{
		"server.pem": srv.CertPEM, "server.key": srv.KeyPEM, "privileged.pem": priv.CertPEM, "privileged.key": priv.KeyPEM,
		"users.yaml": users,
	}
	for name, b := range files {
		if err := writeFile(filepath.Join(dir, name), string(b), 0o600); err != nil {
			return nil, "", err
		}
	}
	path := func(name string) string { return filepath.Join(dir, name) }
	cfg := &signer.Config{
		Authenticator: "userlist", Signer: "basicjwt", Port: -1, ListenAddress: "127.0.0.1", Site: "demo",
		Auditors: []string{"logfile"}, TLSCertificate: path("server.pem"), TLSKey: path("server.key"),
		PrivilegedCertificate: path("privileged.pem"), PrivilegedKey: path("privileged.key"),
		PrivilegedCA: filepath.Join(pki, x509.CAFile),
		BasicJWT:     signer.BasicJWTConfig{SigningCertificate: path("jwt.pub"), MaxValidity: signer.Duration(time.Hour)},
		Userlist:     signer.UserlistConfig{SigningKey: path("jwt.seed"), UsersFile: path("users.yaml")},
	}
	cfg.LogfileAuditor.Logfile = path("signer-audit.jsonl")
	return cfg, password, nil
}

// centralAAA runs tutti-aaa next to the demo fleet, logs alice in and sends
// requests it signs: the nodes see caller up=alice, allow her ping and
// deny her inventory. It returns how many steps misbehaved.
func centralAAA(ctx context.Context, fleet *Fleet, tutti Main, out io.Writer, step func(string)) (int, error) {
	step("Central AAA: tutti-aaa (login + signer) with a privileged certificate from the fleet's CA")
	cfg, password, err := aaaConfig(fleet)
	if err != nil {
		return 0, err
	}
	l := logrus.New()
	l.SetOutput(io.Discard)
	svc, err := signer.New(cfg, signer.Options{Log: logrus.NewEntry(l)})
	if err != nil {
		return 0, err
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(sctx) }()
	defer func() { cancel(); <-done }()
	select {
	case <-svc.Ready():
	case err := <-done:
		return 0, fmt.Errorf("tutti-aaa: %w", err)
	case <-time.After(10 * time.Second):
		return 0, fmt.Errorf("tutti-aaa did not start within 10s")
	}
	fmt.Fprintf(out, "tutti-aaa listening on %s; user alice may use rpcutil.*\n", svc.URL())

	// The nodes' policy lets up=alice ping, nothing more.
	policy := filepath.Join(fleet.Dir, "policies", "rpcutil.policy")
	b, err := os.ReadFile(policy)
	if err != nil {
		return 0, err
	}
	if err := writeFile(policy, string(b)+"allow\tup=alice\tping\t*\t*\n", 0o644); err != nil {
		return 0, err
	}
	for _, n := range fleet.Nodes {
		if err := n.Reload(); err != nil {
			return 0, err
		}
	}
	// alice's transport certificate is the guest's; tutti-aaa signs.
	guest, err := os.ReadFile(filepath.Join(fleet.Dir, "guest.conf"))
	if err != nil {
		return 0, err
	}
	conf := filepath.Join(fleet.Dir, "alice.conf")
	if err := writeFile(conf, string(guest)+
		"plugin.login.aaasvc.login.url = "+svc.URL()+signer.LoginPath+"\n"+
		"plugin.choria.security.request_signer.url = "+svc.URL()+signer.SignPath+"\n"+
		"plugin.choria.security.request_signer.token_file = "+filepath.Join(fleet.Dir, "aaa", "alice.token")+"\n"+
		"plugin.choria.security.request_signer.force = true\n"+
		"plugin.tutti.request_signer.ca = "+filepath.Join(fleet.Dir, "pki", x509.CAFile)+"\n", 0o600); err != nil {
		return 0, err
	}
	fails := 0
	run := func(title, stdin string, args ...string) int {
		step(title + "\n    $ tutti " + strings.Join(args, " "))
		return tutti(args, strings.NewReader(stdin), out, out)
	}
	if run("alice logs in (password on stdin) and gets a short-lived token", password+"\n", "login", "--config", conf, "--user", "alice", "--password-stdin") != 0 {
		return fails + 1, nil
	}
	if run("tutti-aaa signs alice's request; the nodes run it as up=alice", "", "rpc", "rpcutil", "ping", "--config", conf) != 0 {
		fails++
	}
	if run("Her token allows rpcutil.*, but the nodes' policy denies up=alice inventory", "", "rpc", "rpcutil", "inventory", "--config", conf) == 0 {
		fails++
	}
	step("Node audit records for up=alice name the privileged signer")
	if b, err := os.ReadFile(filepath.Join(fleet.Dir, "audit-node1.demo.example.net.log")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, `"caller":"up=alice"`) {
				fmt.Fprintln(out, line)
			}
		}
	}
	return fails, nil
}
