package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/security/remote"
)

// defaultTokenFile is where tutti login writes the token when client.conf
// names no token_file.
const defaultTokenFile = "~/.choria/token"

// newLoginCmd is `tutti login` (docs/signer-api.md §7): obtain a token from
// tutti-aaa (or aaasvc) and store it with a fresh seed, both 0600.
func newLoginCmd(g *globals) *cobra.Command {
	var user, url string
	var passwordStdin bool
	var sso ssoFlags
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Log in to the central AAA service and store a token for remote signing",
		Long: `login asks for your user name and password (or takes --user, $TUTTI_USER, $TUTTI_PASSWORD
and --password-stdin for automation), then a one-time code when your user has a second factor
($TUTTI_OTP, or the line after the password with --password-stdin), logs in to plugin.login.aaasvc.login.url and writes the
token to plugin.choria.security.request_signer.token_file (default ` + defaultTokenFile + `) and
the signing seed next to it. A tutti-login executable on PATH replaces the built-in flow.

With --sso you sign in at your organisation's identity provider instead (single sign-on through
tutti-aaa's OpenID Connect login): a browser opens where there is one, otherwise tutti prints a
URL and a code to enter on any device (--sso-flow chooses).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path, err := exec.LookPath("tutti-login"); err == nil {
				return runExternalLogin(cmd, path, g)
			}
			cfg, _, err := config.LoadClient(g.config)
			if err != nil {
				return exitWith(ExitFailed, err)
			}
			if sso.enabled {
				return runSSOLogin(cmd, cfg, url, sso)
			}
			opts, err := loginOptions(cmd, cfg, user, url, passwordStdin)
			if err != nil {
				return exitWith(ExitUsage, err)
			}
			if _, err := remote.Login(cmd.Context(), opts); err != nil {
				return exitWith(ExitFailed, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Logged in as %s; token stored in %s\n", opts.User, opts.TokenFile)
			return nil
		},
	}
	cmd.Flags().StringVar(&user, "user", "", "user name (default $TUTTI_USER, else prompt)")
	cmd.Flags().StringVar(&url, "url", "", "login URL (default plugin.login.aaasvc.login.url)")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of stdin")
	sso.register(cmd)
	return cmd
}

func loginOptions(cmd *cobra.Command, cfg *config.Client, user, url string, passwordStdin bool) (remote.LoginOptions, error) {
	o := remote.LoginOptions{URLs: cfg.LoginURLs, TokenFile: cfg.RequestSigner.TokenFile,
		SeedFile: cfg.RequestSigner.SeedFile, CA: cfg.RequestSigner.CA, Insecure: cfg.RequestSigner.Insecure}
	if url != "" {
		o.URLs = []string{url}
	}
	if len(o.URLs) == 0 {
		return o, errors.New("no login URL: set plugin.login.aaasvc.login.url or pass --url")
	}
	if o.TokenFile == "" {
		o.TokenFile, o.SeedFile = defaultTokenFile, remote.DefaultSeedFile(defaultTokenFile)
	}
	in := bufio.NewReader(cmd.InOrStdin())
	tty := isTerminal(cmd.InOrStdin())
	o.User = firstNonEmpty(user, os.Getenv("TUTTI_USER"))
	var err error
	if o.User == "" {
		if !tty {
			return o, errors.New("no user name: pass --user or set TUTTI_USER")
		}
		fmt.Fprint(cmd.ErrOrStderr(), "User: ")
		if o.User, err = readLine(in); err != nil {
			return o, err
		}
	}
	switch {
	case passwordStdin:
		o.Password, err = readLine(in)
	case os.Getenv("TUTTI_PASSWORD") != "":
		o.Password = os.Getenv("TUTTI_PASSWORD")
	case tty:
		fmt.Fprint(cmd.ErrOrStderr(), "Password: ")
		var b []byte
		b, err = term.ReadPassword(int(cmd.InOrStdin().(*os.File).Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		o.Password = string(b)
	default:
		err = errors.New("no password: use --password-stdin or TUTTI_PASSWORD when not on a terminal")
	}
	o.OTP = otpPrompt(cmd, in, tty, passwordStdin)
	return o, err
}

// otpPrompt asks for the one-time code of a user with a second factor,
// only when the service asks for it: $TUTTI_OTP, the line after the
// password with --password-stdin, or a prompt on a terminal.
func otpPrompt(cmd *cobra.Command, in *bufio.Reader, tty, passwordStdin bool) func() (string, error) {
	return func() (string, error) {
		switch {
		case os.Getenv("TUTTI_OTP") != "":
			return os.Getenv("TUTTI_OTP"), nil
		case passwordStdin:
			return readLine(in)
		case tty:
			fmt.Fprint(cmd.ErrOrStderr(), "One-time code: ")
			return readLine(in)
		}
		return "", errors.New("a one-time code is needed: set TUTTI_OTP, or give it on the line after the password with --password-stdin")
	}
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("read from stdin: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// runExternalLogin hands the terminal to a tutti-login executable, as
// go-choria does with choria-login.
func runExternalLogin(cmd *cobra.Command, path string, g *globals) error {
	var args []string
	if g.config != "" {
		args = append(args, "--config", g.config)
	}
	c := exec.CommandContext(cmd.Context(), path, args...)
	c.Stdin, c.Stdout, c.Stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	if err := c.Run(); err != nil {
		return exitWith(ExitFailed, fmt.Errorf("%s: %w", path, err))
	}
	return nil
}
