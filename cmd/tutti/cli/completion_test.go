package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestCompletionScripts(t *testing.T) {
	for shell, marker := range map[string]string{
		"bash":       "__start_tutti",
		"zsh":        "#compdef tutti",
		"fish":       "complete -c tutti",
		"powershell": "Register-ArgumentCompleter",
	} {
		code, out, stderr := runCLI(t, "completion", shell)
		if code != ExitOK || !strings.Contains(out, marker) {
			t.Errorf("completion %s: exit %d, %d bytes without %q (%s)", shell, code, len(out), marker, stderr)
		}
	}
}

// TestCompletionValues asks what the shell scripts ask (tutti __complete
// ARGS...): the candidates, then ":directive".
func TestCompletionValues(t *testing.T) {
	cases := []struct {
		args []string
		want []string
		not  []string
	}{
		{[]string{"r"}, []string{"rpc"}, []string{"ping"}},
		{[]string{"rpc", "rpc"}, []string{"rpcutil"}, nil},
		{[]string{"rpc", "rpcutil", "ping", "--li"}, []string{"--limit", "--limit-seed"}, []string{"--json"}},
		{[]string{"rpc", "rpcutil", "ping", "-A", ""}, []string{"rpcutil"}, nil},
		{[]string{"discover", "--"}, []string{"--nodes", "--discovery-timeout", "--select"}, []string{"--batch"}},
		{[]string{"ping", "--j"}, []string{"--json", "--jsonl"}, nil},
	}
	for _, c := range cases {
		code, out, stderr := runCLI(t, append([]string{"__complete"}, c.args...)...)
		lines := strings.Split(out, "\n")
		if code != ExitOK {
			t.Fatalf("%v: exit %d %s", c.args, code, stderr)
		}
		has := func(s string) bool {
			for _, l := range lines {
				if l == s || strings.HasPrefix(l, s+"\t") {
					return true
				}
			}
			return false
		}
		for _, w := range c.want {
			if !has(w) {
				t.Errorf("%v: %q not offered:\n%s", c.args, w, out)
			}
		}
		for _, w := range c.not {
			if has(w) {
				t.Errorf("%v: %q offered:\n%s", c.args, w, out)
			}
		}
	}
}

// TestBashCompletionRuns loads the bash script into a real bash and
// completes "tutti rpc rpcutil ping --lim", with a tutti on PATH that runs
// this test binary as the CLI.
func TestBashCompletionRuns(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	if os.Getenv("TUTTI_TEST_AS_CLI") != "" {
		t.Skip("running as the CLI")
	}
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	wrapper := "#!/bin/sh\nTUTTI_TEST_AS_CLI=1 exec " + self + " -test.run=TestMainAsCLI -- \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "tutti"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCLI(t, "completion", "bash")
	if code != ExitOK {
		t.Fatal("completion bash failed")
	}
	if err := os.WriteFile(filepath.Join(dir, "tutti.bash"), []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	// _get_comp_words_by_ref comes with the bash-completion package; this
	// is the part of it the script uses.
	probe := `_get_comp_words_by_ref() { cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]}; words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD; }
source ` + filepath.Join(dir, "tutti.bash") + `
COMP_WORDS=(tutti rpc rpcutil ping --lim); COMP_CWORD=4; COMP_LINE="tutti rpc rpcutil ping --lim"; COMP_POINT=${#COMP_LINE}
__start_tutti tutti --lim rpc
printf '%s\n' "${COMPREPLY[@]}"`
	cmd := exec.Command(bash, "--norc", "-c", probe)
	cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
	var stderr strings.Builder
	cmd.Stderr = &stderr // compopt complains outside a real completion
	res, err := cmd.Output()
	if err != nil {
		t.Fatalf("bash: %v\n%s%s", err, res, stderr.String())
	}
	if got := strings.Fields(string(res)); strings.Join(got, " ") != "--limit --limit-seed" {
		t.Fatalf("bash completion offered:\n%s", res)
	}
}

// TestMainAsCLI makes the test binary act as tutti for
// TestBashCompletionRuns.
func TestMainAsCLI(t *testing.T) {
	if os.Getenv("TUTTI_TEST_AS_CLI") == "" {
		t.Skip("only as a subprocess")
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	os.Exit(Main(args, os.Stdin, os.Stdout, os.Stderr))
}
