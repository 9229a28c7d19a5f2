package cli

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/security/remote"
)

// ssoFlags are tutti login's single sign-on flags.
type ssoFlags struct {
	enabled bool
	flow    string
}

func (f *ssoFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.enabled, "sso", false, "sign in at the identity provider (OpenID Connect through tutti-aaa)")
	cmd.Flags().StringVar(&f.flow, "sso-flow", "auto", "with --sso: browser (code + PKCE, loopback redirect), device (a URL and a code to enter elsewhere), or auto (browser when one can open)")
}

// runSSOLogin is tutti login --sso.
func runSSOLogin(cmd *cobra.Command, cfg *config.Client, url string, f ssoFlags) error {
	o := remote.SSOOptions{LoginOptions: remote.LoginOptions{URLs: cfg.LoginURLs, TokenFile: cfg.RequestSigner.TokenFile,
		SeedFile: cfg.RequestSigner.SeedFile, CA: cfg.RequestSigner.CA, Insecure: cfg.RequestSigner.Insecure}}
	if url != "" {
		o.URLs = []string{url}
	}
	if len(o.URLs) == 0 {
		return exitWith(ExitUsage, errors.New("no login URL: set plugin.login.aaasvc.login.url or pass --url"))
	}
	if o.TokenFile == "" {
		o.TokenFile, o.SeedFile = defaultTokenFile, remote.DefaultSeedFile(defaultTokenFile)
	}
	stderr := cmd.ErrOrStderr()
	switch f.flow {
	case "auto":
		o.Flow = remote.FlowDevice
		if browserCommand() != nil {
			o.Flow = remote.FlowBrowser
		}
	case remote.FlowDevice, remote.FlowBrowser:
		o.Flow = f.flow
	default:
		return exitWith(ExitUsage, fmt.Errorf("--sso-flow %q: want browser, device or auto", f.flow))
	}
	o.ShowDevice = func(d remote.DeviceCode) {
		fmt.Fprintf(stderr, "To sign in, open %s and enter the code %s\n", d.VerificationURI, d.UserCode)
		if d.VerificationURIComplete != "" {
			fmt.Fprintf(stderr, "(or open %s)\n", d.VerificationURIComplete)
		}
		fmt.Fprintln(stderr, "Waiting for the sign-in…")
	}
	o.OpenBrowser = func(u string) {
		fmt.Fprintf(stderr, "Opening the browser to sign in; if it does not open, visit:\n%s\n", u)
		if c := browserCommand(); c != nil {
			c.Args = append(c.Args, u)
			if err := c.Start(); err == nil {
				go func() { _ = c.Wait() }()
			}
		}
	}
	token, err := remote.SSOLogin(cmd.Context(), o)
	if err != nil {
		return exitWith(ExitFailed, err)
	}
	who := "you"
	if id, err := remote.TokenCallerID(token); err == nil {
		who = id
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Logged in as %s; token stored in %s\n", who, o.TokenFile)
	return nil
}

// browserCommand is the command that opens a URL: $BROWSER, else the
// desktop's opener when there is a display; nil when none.
func browserCommand() *exec.Cmd {
	if b := os.Getenv("BROWSER"); b != "" {
		return exec.Command(b)
	}
	switch runtime.GOOS {
	case "darwin":
		return exec.Command("open")
	case "windows":
		return exec.Command("rundll32", "url.dll,FileProtocolHandler")
	}
	if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		return nil
	}
	if p, err := exec.LookPath("xdg-open"); err == nil {
		return exec.Command(p)
	}
	return nil
}
