package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tuttifleet/tutti/aaa/signer"
	"github.com/tuttifleet/tutti/aaa/signer/signertest"
	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/security/remote"
)

func TestLoginVerb(t *testing.T) {
	t.Setenv("PATH", "") // no tutti-login executable
	t.Setenv("TUTTI_PASSWORD", "")
	env := signertest.Start(t, signertest.Options{})
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	conf := filepath.Join(dir, "client.conf")
	err := os.WriteFile(conf, []byte("plugin.login.aaasvc.login.url = "+env.URL+signer.LoginPath+"\n"+
		"plugin.choria.security.request_signer.url = "+env.URL+signer.SignPath+"\n"+
		"plugin.choria.security.request_signer.token_file = "+tokenFile+"\n"+
		"plugin.tutti.request_signer.ca = "+env.CAFile+"\n"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	run := func(stdin string, args ...string) (string, error) {
		var out bytes.Buffer
		g := &globals{config: conf, stdin: strings.NewReader(stdin), stdout: &out, stderr: &out}
		cmd := newLoginCmd(g)
		cmd.SetArgs(args)
		cmd.SetIn(g.stdin)
		cmd.SetOut(g.stdout)
		cmd.SetErr(g.stderr)
		err := cmd.ExecuteContext(context.Background())
		return out.String(), err
	}
	if out, err := run(signertest.Password+"\n", "--user", "bob", "--password-stdin"); err != nil || !strings.Contains(out, "Logged in as bob") {
		t.Fatalf("login: %v: %s", err, out)
	}
	if st, err := os.Stat(tokenFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v", err)
	}
	if _, err := run("wrong\n", "--user", "bob", "--password-stdin"); err == nil || !strings.Contains(err.Error(), "Login failed") {
		t.Fatalf("bad password: %v", err)
	}
	if _, err := run("", "--password-stdin"); err == nil || !strings.Contains(err.Error(), "no user name") {
		t.Fatalf("no user: %v", err)
	}

	cfg, _, err := config.LoadClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := newSigner(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rs.(*remote.Signer); !ok || rs.CallerID() != "up=bob" {
		t.Fatalf("signer %T with callerid %q", rs, rs.CallerID())
	}
}
