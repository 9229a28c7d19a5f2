package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/aaa/login"
	"github.com/tuttifleet/tutti/aaa/signer"
	"github.com/tuttifleet/tutti/aaa/signer/signertest"
)

// TestLoginVerbOTP: with --password-stdin the one-time code is the next
// line, read only when the service asks for it.
func TestLoginVerbOTP(t *testing.T) {
	t.Setenv("PATH", "")
	t.Setenv("TUTTI_PASSWORD", "")
	t.Setenv("TUTTI_OTP", "")
	_, secret, err := login.GenerateTOTP("test", "carol")
	if err != nil {
		t.Fatal(err)
	}
	env := signertest.Start(t, signertest.Options{Users: []login.User{
		{Username: "carol", ACLs: []string{"*"}, TOTPSecret: secret}}})
	dir := t.TempDir()
	conf := filepath.Join(dir, "client.conf")
	if err := os.WriteFile(conf, []byte("plugin.login.aaasvc.login.url = "+env.URL+signer.LoginPath+"\n"+
		"plugin.choria.security.request_signer.token_file = "+filepath.Join(dir, "token")+"\n"+
		"plugin.tutti.request_signer.ca = "+env.CAFile+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(stdin string) (string, error) {
		var out bytes.Buffer
		g := &globals{config: conf, stdin: strings.NewReader(stdin), stdout: &out, stderr: &out}
		cmd := newLoginCmd(g)
		cmd.SetArgs([]string{"--user", "carol", "--password-stdin"})
		cmd.SetIn(g.stdin)
		cmd.SetOut(g.stdout)
		cmd.SetErr(g.stderr)
		err := cmd.ExecuteContext(context.Background())
		return out.String(), err
	}
	if _, err := run(signertest.Password + "\n"); err == nil || !strings.Contains(err.Error(), "one-time code") {
		t.Fatalf("no code line: %v", err)
	}
	code, _ := login.TOTPCode(secret, time.Now())
	if out, err := run(signertest.Password + "\n" + code + "\n"); err != nil || !strings.Contains(out, "Logged in as carol") {
		t.Fatalf("with a code: %v: %s", err, out)
	}
}
